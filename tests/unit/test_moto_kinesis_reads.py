"""moto_server patch 10: Kinesis GetRecords from the iterator's position answers exactly what moto's
walk from the shard's first record answers (records, next position, millis behind), on random reads,
limits and gaps (where the fast path must hand over to the walk)."""
from __future__ import annotations

import random

from moto.kinesis.models import Shard

from cqrs import moto_server


def test_reads_from_the_position_equal_moto_walk():
    walk = Shard.get_records
    moto_server._kinesis_reads()
    try:
        fast = Shard.get_records
        assert fast is not walk
        rng = random.Random(7)
        for trial in range(30):
            shard = Shard(0, 0, 2**128, "123456789012", "us-east-1")
            for i in range(rng.randrange(0, 300)):
                shard.put_record(f"pk{i % 7}", "ZGF0YQ==", None)
            if trial % 3 == 0 and shard.records:  # a gap: moto's own walk must answer across it
                for k in rng.sample(list(shard.records), min(5, len(shard.records))):
                    del shard.records[k]
            top = max(shard.records, default=0)
            for _ in range(40):
                last = str(rng.randrange(0, top + 3))
                limit = rng.choice([None, 0, 1, 10, 100, 10000])
                assert fast(shard, last, limit) == walk(shard, last, limit), (trial, last, limit)
    finally:
        Shard.get_records = walk
