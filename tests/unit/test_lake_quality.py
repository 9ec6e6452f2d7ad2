"""The lake's data-quality suites: great-expectations is the definition; the projector's fast
evaluator must fail exactly the rows great-expectations fails. Also measures both (see the report)."""
from __future__ import annotations

from datetime import UTC, datetime

from ingestion.change_event import decode_lambda_event
from projections.lake import columns, quality
from projections.lake.schema import ENTITIES
from tests.factories import kinesis_event, kinesis_record
from tests.unit.test_lake_columns import order

T0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)


def order_table(n: int):
    recs = []
    for i in range(n):
        status = "WEIRD" if i % 7 == 3 else "CONFIRMED"
        img = order(f"o{i}", 0 if i % 11 == 5 else 1, status=status)
        if i % 13 == 4:
            img["CancelReason"] = "BORED"
        recs.append(kinesis_record("Orders", "INSERT", img, created=T0))
    events = decode_lambda_event(kinesis_event(recs)).events
    built = columns.build(events, T0, None, checks=None)  # unchecked: every row is in the table
    return built.batches["order"].parts["2026-11-27"], events


def test_fast_evaluator_agrees_with_great_expectations():
    import great_expectations as gx

    table, events = order_table(200)
    ours = quality.evaluate(ENTITIES["order"], table, events)
    assert ours  # the batch does contain failures

    ctx = gx.get_context(mode="ephemeral")
    batch = (ctx.data_sources.add_pandas("lake").add_dataframe_asset("orders")
             .add_batch_definition_whole_dataframe("batch").get_batch(batch_parameters={"dataframe": table.to_pandas()}))
    res = batch.validate(quality.ge_suite("order"), result_format={"result_format": "COMPLETE"})
    ge_failed: dict[int, set[str]] = {}
    checked = set()
    for r in res.results:
        cfg = r.expectation_config
        if "column" not in cfg.kwargs:
            continue
        checked.add(cfg.type)
        for i in r.result.get("unexpected_index_list") or []:
            ge_failed.setdefault(i, set()).add(cfg.type)
    assert checked >= {"expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set",
                       "expect_column_values_to_be_between"}
    assert set(ge_failed) == set(ours)
    assert all(ours[i][0] in ge_failed[i] for i in ours)

