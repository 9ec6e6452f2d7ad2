-- Apply one micro-batch of order lines changes from stage_order_lines to fact_order_lines.
-- Grain: one row per (order_id, line_no), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_order_lines, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_order_lines USING stage_order_lines AS newer
WHERE newer.order_id = stage_order_lines.order_id AND newer.line_no = stage_order_lines.line_no AND newer.version > stage_order_lines.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_order_lines USING fact_order_lines
WHERE fact_order_lines.order_id = stage_order_lines.order_id AND fact_order_lines.line_no = stage_order_lines.line_no AND fact_order_lines.version >= stage_order_lines.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_order_lines USING stage_order_lines AS s
ON fact_order_lines.order_id = s.order_id AND fact_order_lines.line_no = s.line_no
WHEN MATCHED THEN UPDATE SET
    sku = s.sku,
    qty = s.qty,
    unit_price = s.unit_price,
    line_amount = s.line_amount,
    created_at = s.created_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (order_id, line_no, sku, qty, unit_price, line_amount, created_at, version, is_deleted)
VALUES (s.order_id, s.line_no, s.sku, s.qty, s.unit_price, s.line_amount, s.created_at, s.version, s.is_deleted);
