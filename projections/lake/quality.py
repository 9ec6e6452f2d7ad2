"""Data quality of every lake batch: one expectation suite per entity.

The suites are written once, as plain (expectation type, kwargs) pairs in great-expectations'
vocabulary, and used twice:
  * `ge_suite(entity)` turns them into a real `great_expectations` ExpectationSuite (for `cqrs dq`,
    docs and the test that checks this evaluator against great-expectations itself);
  * `evaluate(...)` runs them inside the projector on the Arrow table with pyarrow.compute.
Why not run great-expectations per batch: importing it costs ~4-10 s of a cold start and building a
context + validator costs far more per batch than the batch itself (measured: see
tests/unit/test_lake_quality.py and the report); the projector's budget is >250k records/s.
Failed rows go to quarantine with the expectation's name; they are never dropped.
Schema and money precision are enforced while building the columns (columns.py): a value Arrow
refuses for the column's exact type fails `expect_column_values_to_be_of_type` or
`expect_column_values_to_match_decimal_scale`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ingestion.change_event import ChangeEvent
from projections.lake.schema import ENTITIES, Entity

VERSIONS_EXPECTATION = "expect_versions_to_rise_per_key"

Spec = tuple[str, dict[str, Any]]


def suite_spec(ent: Entity) -> list[Spec]:
    """The expectations of one entity, in great-expectations' names."""
    spec: list[Spec] = [("expect_table_columns_to_match_set",
                         {"column_set": [c.name for c in ent.columns], "exact_match": False})]
    spec += [("expect_column_values_to_not_be_null", {"column": k}) for k in ent.keys]
    spec.append(("expect_column_values_to_be_between", {"column": "version", "min_value": 1}))
    if ent.statuses:
        spec.append(("expect_column_values_to_be_in_set", {"column": "status", "value_set": list(ent.statuses)}))
    spec += [("expect_column_values_to_be_in_set", {"column": c, "value_set": list(vs)}) for c, vs in ent.sets]
    spec += [("expect_column_values_to_be_between", {"column": c, "min_value": 1}) for c in ent.positive]
    spec += [("expect_column_values_to_match_decimal_scale", {"column": c.name, "scale": c.scale})
             for c in ent.columns if c.money]
    # Not in great-expectations' catalogue: a key's distinct changes must carry distinct versions
    # (every write raises Version by one). Exact duplicates (same sequence number) are fine.
    if ent.name != "order_line":  # lines carry their order's version; the order is checked
        spec.append((VERSIONS_EXPECTATION, {"columns": list(ent.keys)}))
    return spec


def evaluate(ent: Entity, table: pa.Table, events: Sequence[ChangeEvent]) -> dict[int, tuple[str, str, str]]:
    """Row index -> (expectation, column, reason) for each row failing the entity's suite."""
    bad: dict[int, tuple[str, str, str]] = {}

    def flag(mask: pa.Array, exp: str, col: str, reason: str) -> None:
        for i in pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist():
            bad.setdefault(i, (exp, col, reason.format(v=table.column(col)[i].as_py() if col else None)))

    for exp, kw in suite_spec(ent):
        col = kw.get("column", "")
        if exp == "expect_column_values_to_not_be_null":
            if table.column(col).null_count:  # the usual batch has none: no kernels
                flag(pc.is_null(table.column(col)), exp, col, f"{col} is null")
        elif exp == "expect_column_values_to_be_in_set":
            arr = table.column(col)
            flag(pc.and_(pc.is_valid(arr), pc.invert(pc.is_in(arr, pa.array(kw["value_set"], arr.type)))),
                 exp, col, f"{col}={{v!r}} is not one of {kw['value_set']}")
        elif exp == "expect_column_values_to_be_between":
            arr = table.column(col)
            flag(pc.less(arr, pa.scalar(kw["min_value"]).cast(arr.type)), exp, col, f"{col}={{v}} is below {kw['min_value']}")
        elif exp == VERSIONS_EXPECTATION:
            for i, reason in _version_clashes(table, kw["columns"], events).items():
                bad.setdefault(i, (exp, "version", reason))
        # expect_table_columns_to_match_set and the decimal scale are enforced by the column builder.
    return bad


def _version_clashes(table: pa.Table, keys: list[str], events: Sequence[ChangeEvent]) -> dict[int, str]:
    col = table.column(keys[0])
    if len(keys) == 1 and not col.null_count and len(pc.unique(col)) == table.num_rows:
        # every key changed once in this batch: nothing can clash (unique ~0.15 ms per 6k keys where
        # count_distinct took ~0.3; the grouping below ~1.5)
        return {}
    # Find (key, version) groups with more than one sequence number in Arrow; inspect only those.
    g = table.select([*keys, "version", "sequence_number"]).group_by([*keys, "version"], use_threads=False).aggregate(
        [("sequence_number", "count_distinct")])
    suspects = g.filter(pc.greater(g.column("sequence_number_count_distinct"), 1))
    if not suspects.num_rows:
        return {}
    wanted = {tuple(r[c] for c in (*keys, "version")) for r in suspects.to_pylist()}
    cols = [table.column(c).to_pylist() for c in (*keys, "version")]
    first: dict[tuple, int] = {}
    clashes: dict[int, str] = {}
    for i, k in enumerate(zip(*cols)):
        if k not in wanted:
            continue
        j = first.setdefault(k, i)
        e, o = events[i], events[j]
        if j != i and o.sequence_number != e.sequence_number and (o.operation, o.image) != (e.operation, e.image):
            msg = (f"{e.key_string} version {e.version} written twice with different content "
                   f"(sequence numbers {o.sequence_number} and {e.sequence_number})")
            clashes[i] = msg
            clashes.setdefault(j, msg)
    return clashes


def ge_suite(entity: str) -> Any:
    """The entity's suite as a great-expectations ExpectationSuite (imports great_expectations)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=f"lake_{entity}")
    for exp, kw in suite_spec(ENTITIES[entity]):
        cls_name = "".join(p.capitalize() for p in exp.split("_"))
        cls = getattr(gxe, cls_name, None)
        if cls is not None:
            suite.add_expectation(cls(**kw))
    return suite
