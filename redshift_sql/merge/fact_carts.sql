-- Apply one micro-batch of Carts changes from stage_carts to fact_carts.
-- Grain: one row per (cart_id), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_carts, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_carts USING stage_carts AS newer
WHERE newer.cart_id = stage_carts.cart_id AND newer.version > stage_carts.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_carts USING fact_carts
WHERE fact_carts.cart_id = stage_carts.cart_id AND fact_carts.version >= stage_carts.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_carts USING stage_carts AS s
ON fact_carts.cart_id = s.cart_id
WHEN MATCHED THEN UPDATE SET
    customer_id = s.customer_id,
    status = s.status,
    checked_out = s.checked_out,
    item_count = s.item_count,
    conflict_count = s.conflict_count,
    created_at = s.created_at,
    updated_at = s.updated_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (cart_id, customer_id, status, checked_out, item_count, conflict_count, created_at, updated_at, version, is_deleted)
VALUES (s.cart_id, s.customer_id, s.status, s.checked_out, s.item_count, s.conflict_count, s.created_at, s.updated_at, s.version, s.is_deleted);
