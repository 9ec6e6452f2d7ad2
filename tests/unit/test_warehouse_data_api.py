"""The Redshift Data API adapter. There is no Redshift locally (moto's redshift-data returns canned
answers without running SQL), so a scripted stand-in for the `redshift-data` client plays the
service: it records the calls and injects the outcomes the real service produces (PENDING ->
FINISHED, FAILED with Redshift's error text). What is asserted is the adapter's own behaviour."""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from projections.warehouse.adapters import RedshiftDataWarehouse, TerminalLoadError, TransientLoadError
from projections.warehouse.rows import Batch


class ScriptedDataApi:
    def __init__(self, statuses=None, error="", results=None):
        self.calls: list[tuple[str, dict]] = []
        self.statuses = list(statuses or [])
        self.error, self.results = error, results
        self.n = 0

    def execute_statement(self, **kw):
        self.calls.append(("execute_statement", kw))
        self.n += 1
        return {"Id": f"s{self.n}", "SessionId": kw.get("SessionId", "sess-1")}

    def describe_statement(self, Id):
        self.calls.append(("describe_statement", {"Id": Id}))
        status = self.statuses.pop(0) if self.statuses else "FINISHED"
        return {"Status": status, "Error": self.error, "HasResultSet": self.results is not None}

    def get_statement_result(self, Id, NextToken=None):
        return self.results[NextToken or 0]


class Bucket:
    def __init__(self):
        self.objects: dict[str, bytes] = {}

    def put_object(self, Bucket, Key, Body):
        self.objects[f"s3://{Bucket}/{Key}"] = Body


def adapter(client, **kw):
    sleeps: list[float] = []
    wh = RedshiftDataWarehouse(client, workgroup="wg", database="dev", sleep=sleeps.append, **kw)
    return wh, sleeps


def test_query_passes_values_as_parameters_and_polls_with_backoff():
    pages = [{"ColumnMetadata": [{"name": "rule", "typeName": "varchar"}, {"name": "amount", "typeName": "numeric"}],
              "Records": [[{"stringValue": "AMOUNT_SPIKE"}, {"stringValue": "100.10"}]], "NextToken": 1},
             {"ColumnMetadata": [{"name": "rule", "typeName": "varchar"}, {"name": "amount", "typeName": "numeric"}],
              "Records": [[{"stringValue": "x' OR 1=1 --"}, {"isNull": True}]]}]
    client = ScriptedDataApi(statuses=["SUBMITTED", "STARTED", "STARTED", "FINISHED"], results=pages)
    wh, sleeps = adapter(client)
    cols, rows = wh.query("SELECT rule, amount FROM fact_alerts WHERE customer_id = :customer",
                          {"customer": "c1' OR '1'='1"})
    assert cols == ["rule", "amount"]
    assert rows == [("AMOUNT_SPIKE", Decimal("100.10")), ("x' OR 1=1 --", None)]
    (_, call), *_ = client.calls
    assert "c1'" not in call["Sql"] and call["Parameters"] == [{"name": "customer", "value": "c1' OR '1'='1"}]
    assert call["WorkgroupName"] == "wg" and call["Database"] == "dev"
    assert sleeps == [0.1, 0.2, 0.4]  # backoff between polls


@pytest.mark.parametrize("error, kind", [
    ("ERROR: null value in column \"customer_id\" violates not-null constraint", TerminalLoadError),
    ("ERROR: 1023 Serializable isolation violation on table - 123, transactions forming the cycle are",
     TransientLoadError),
    ("ERROR: connection to the compute nodes was lost", TransientLoadError),
])
def test_a_failed_statement_says_whether_a_retry_can_help(error, kind):
    wh, _ = adapter(ScriptedDataApi(statuses=["FAILED"], error=error))
    with pytest.raises(kind, match="FAILED"):
        wh.query("SELECT 1")


def test_a_load_is_one_session_transaction_copying_exact_parquet_from_s3():
    client, bucket = ScriptedDataApi(), Bucket()
    wh, _ = adapter(client, s3=bucket, stage_uri="s3://stage/warehouse", iam_role="arn:aws:iam::1:role/copy")
    row = ("o1", "c1", "k1", "CONFIRMED", Decimal("12345678901234.99"), "USD", None, "choreography",
           datetime(2026, 11, 27, 6, 22, 0, 123456), None, 2, False)
    wh.apply(Batch({"stage_orders": [row]}))
    sqls = [kw["Sql"] for name, kw in client.calls if name == "execute_statement"]
    assert sqls[0] == "BEGIN" and sqls[-1] == "COMMIT"
    assert all(kw.get("SessionId") == "sess-1" for name, kw in client.calls[1:] if name == "execute_statement")
    (copy,) = [s for s in sqls if s.startswith("COPY")]
    (uri,) = bucket.objects
    assert copy == f"COPY stage_orders FROM '{uri}' IAM_ROLE 'arn:aws:iam::1:role/copy' FORMAT AS PARQUET"
    assert any(s.startswith("MERGE INTO fact_orders") for s in sqls)
    table = pq.read_table(io.BytesIO(bucket.objects[uri]))
    assert table.column("total_amount").to_pylist() == [Decimal("12345678901234.99")]
    assert str(table.schema.field("total_amount").type) == "decimal128(38, 2)"


def test_a_failed_load_rolls_back():
    client = ScriptedDataApi(statuses=["FINISHED", "FINISHED", "FAILED"], error="violates not-null constraint")
    wh, _ = adapter(client, s3=Bucket(), stage_uri="s3://stage/w", iam_role="arn:aws:iam::1:role/copy")
    with pytest.raises(TerminalLoadError):
        wh.apply(Batch({}))
    assert [kw["Sql"] for name, kw in client.calls if name == "execute_statement"][-1] == "ROLLBACK"
