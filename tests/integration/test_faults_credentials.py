"""A long run across credential refresh: long-lived boto3 clients keep working while their
credentials rotate and expire underneath them.

Real: moto's DynamoDB (+ its stream), Kinesis, S3 and Glue on the session's local stack, osmem's
OpenSearch and the embedded PostgreSQL; the forwarder (ingestion.forwarder.Forwarder), the Kinesis
reader of the local event-source mapping (ingestion.esm.sources.KinesisSource) and the three
projectors (lake `handle` with an injected LakeStore, search and warehouse `process`), each created
ONCE with clients from one botocore session, as a warm Lambda keeps them; botocore's own
RefreshableCredentials machinery (advisory/mandatory refresh, locking); SigV4 signing of every
request with whatever key is current; reliability.reconcile comparing every read model with the
command side.
Simulated: the credential source. The refresh function stands in for STS / the container
credentials endpoint: each call hands out a new access key that expires 2 s later (refresh windows
1 s / 0.5 s instead of 15 / 10 min). moto accepts any key, so a request signed with an expired key
would NOT be refused here; that is why the test checks, from the signed requests themselves, that
no request carried a key past its expiry and that the key in use changed during the run.
"""
from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import botocore.session
from botocore.credentials import RefreshableCredentials

from ingestion.change_event import encode_image
from ingestion.esm.checkpoints import CheckpointStore
from ingestion.esm.sources import KinesisSource
from ingestion.forwarder import Forwarder
from projections.lake import handler as lake
from projections.lake.store import LakeStore
from projections.search import handler as search_handler
from projections.search.client import make_client
from projections.search.writer import BulkWriter
from projections.warehouse import handler as warehouse_handler
from projections.warehouse.adapters import from_settings
from reliability import reconcile
from reliability.sandbox import order, private_settings, provision, transaction

LIFETIME_S = 2.0
ROUNDS = 5
_CRED = re.compile(r"Credential=([^/]+)/")


class RotatingSource:
    """The simulated credential endpoint: a new key on every call, expiring LIFETIME_S later."""

    def __init__(self) -> None:
        self.calls = 0
        self.expiry: dict[str, datetime] = {}
        self.lock = threading.Lock()

    def __call__(self) -> dict[str, str]:
        with self.lock:
            self.calls += 1
            key = f"ASIAROTATE{self.calls:010d}"
            exp = datetime.now(UTC) + timedelta(seconds=LIFETIME_S)
            self.expiry[key] = exp
        return {"access_key": key, "secret_key": f"secret-{self.calls}", "token": f"token-{self.calls}",
                "expiry_time": exp.isoformat()}


def rotating_session(source: RotatingSource, signed: list[tuple[datetime, str]]) -> boto3.Session:
    meta = source()
    creds = RefreshableCredentials(meta["access_key"], meta["secret_key"], meta["token"],
                                   datetime.fromisoformat(meta["expiry_time"]), source, "simulated-rotation",
                                   advisory_timeout=1.0, mandatory_timeout=0.5)
    bc = botocore.session.get_session()
    bc._credentials = creds  # botocore's own slot for resolved credentials (no provider chain lookup)

    def record(request, **_):  # every request as signed and about to be sent
        auth = request.headers.get("Authorization") or b""
        m = _CRED.search(auth.decode() if isinstance(auth, bytes) else auth)
        signed.append((datetime.now(UTC), m.group(1) if m else ""))

    bc.register("before-send", record)
    return boto3.Session(botocore_session=bc)


def _failed(resp: dict) -> list:
    return resp["batchItemFailures"]


def test_clients_keep_working_across_credential_rotation(local_stack, tmp_path):
    s = private_settings(local_stack, tmp_path / "sandbox")
    (tmp_path / "sandbox").mkdir()
    provision(s)  # with the stack's static test credentials: setup, not under test

    source, signed = RotatingSource(), []
    session = rotating_session(source, signed)
    ddb, streams, kinesis, s3, glue = (s.boto3_client(n, session=session)
                                       for n in ("dynamodb", "dynamodbstreams", "kinesis", "s3", "glue"))
    forwarder = Forwarder(s, kinesis=kinesis, streams=streams, ddb=ddb,
                          checkpoints=CheckpointStore(tmp_path / "ckpt", "forwarder"), retry_base_s=0.05)
    source_kinesis = KinesisSource(kinesis, s.changes_stream, s.region)
    store = LakeStore(s3, glue, s.lake_bucket, s.glue_database)
    search = make_client(s)
    warehouse = from_settings(s)
    after: dict[str, str | None] = {}

    written: dict[tuple[str, str], int] = {}
    results: list[list] = []
    t0 = time.monotonic()
    for rnd in range(ROUNDS):
        # command side: new orders and transactions, and a newer version of the previous round's orders
        for i in range(4):
            oid, tid = f"o{rnd}-{i}", f"t{rnd}-{i}"
            ddb.put_item(TableName=s.table("Orders"), Item=encode_image(order(oid, 1, total=f"{10 + i}.{rnd}5")))
            ddb.put_item(TableName=s.table("Transactions"),
                         Item=encode_image(transaction(tid, 1, amount=f"{rnd}.{i}9")))
            written[("Orders", oid)] = 1
            written[("Transactions", tid)] = 1
            if rnd:
                prev = f"o{rnd - 1}-{i}"
                ddb.put_item(TableName=s.table("Orders"),
                             Item=encode_image(order(prev, 2, "CONFIRMED", total=f"{10 + i}.{rnd - 1}5")))
                written[("Orders", prev)] = 2
        # DynamoDB stream -> Kinesis, then Kinesis -> the three projectors, all with the rotating clients
        while forwarder.poll():
            pass
        assert forwarder.last_error is None, forwarder.last_error
        for shard in source_kinesis.list_shards():
            it = source_kinesis.iterator(shard.shard_id, after.get(shard.shard_id), "TRIM_HORIZON")
            res = source_kinesis.read(shard.shard_id, it, 1000)
            if not res.records:
                continue
            after[shard.shard_id] = res.records[-1].seq
            event = {"Records": [r.event_record for r in res.records]}
            results.append(_failed(lake.handle(event, None, settings=s, store=store)))
            results.append(_failed(search_handler.process(event, search=search, s3=s3, settings=s,
                                                          writer=BulkWriter(search, refresh=True))))
            results.append(_failed(warehouse_handler.process(event, warehouse=warehouse, s3=s3,
                                                             settings=s.with_(warehouse_batch_interval_s=0))))
        time.sleep(0.8)  # let the current key run into its refresh window before the next round
    elapsed = time.monotonic() - t0

    # the run outlived several credential lifetimes, and the key in use really changed under the clients
    assert elapsed > 2 * LIFETIME_S
    assert source.calls >= 3, f"refresh called {source.calls} times in {elapsed:.1f} s"
    keys_used = [k for _, k in signed]
    assert "" not in keys_used and len(set(keys_used)) >= 3, sorted(set(keys_used))
    stale = [(at, k) for at, k in signed if at >= source.expiry[k]]
    assert stale == [], f"requests signed with an expired key: {stale[:3]}"
    # no call failed: every projector reported an empty batchItemFailures for every batch
    assert results and all(r == [] for r in results), results

    # the read models hold exactly what was written (reconcile's own clients, static test credentials)
    report = reconcile.compare(s)
    assert report["errors"] == {} and report["drift"] == [], reconcile.to_text(report)
    views = report["views"]
    assert views["orders"]["command"]["count"] == sum(1 for t, _ in written if t == "Orders") == 4 * ROUNDS
    assert views["transactions"]["command"]["count"] == 4 * ROUNDS
    assert views["orders"]["command"]["version_sum"] == sum(v for (t, _), v in written.items() if t == "Orders")
    for store_name in ("search", "lake", "warehouse"):
        assert views["orders"][store_name]["checksum"] == views["orders"]["command"]["checksum"], store_name
        assert views["transactions"][store_name]["count"] == 4 * ROUNDS, store_name
    assert Decimal(views["orders"]["command"]["version_sum"]) == Decimal(4 * ROUNDS + 4 * (ROUNDS - 1))
