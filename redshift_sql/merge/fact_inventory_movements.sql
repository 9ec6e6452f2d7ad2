-- Apply one micro-batch of inventory movements changes from stage_inventory_movements to fact_inventory_movements.
-- Grain: one row per (product_id, movement_id), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_inventory_movements, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_inventory_movements USING stage_inventory_movements AS newer
WHERE newer.product_id = stage_inventory_movements.product_id AND newer.movement_id = stage_inventory_movements.movement_id AND newer.version > stage_inventory_movements.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_inventory_movements USING fact_inventory_movements
WHERE fact_inventory_movements.product_id = stage_inventory_movements.product_id AND fact_inventory_movements.movement_id = stage_inventory_movements.movement_id AND fact_inventory_movements.version >= stage_inventory_movements.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_inventory_movements USING stage_inventory_movements AS s
ON fact_inventory_movements.product_id = s.product_id AND fact_inventory_movements.movement_id = s.movement_id
WHEN MATCHED THEN UPDATE SET
    action = s.action,
    qty = s.qty,
    reason = s.reason,
    order_id = s.order_id,
    moved_at = s.moved_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (product_id, movement_id, action, qty, reason, order_id, moved_at, version, is_deleted)
VALUES (s.product_id, s.movement_id, s.action, s.qty, s.reason, s.order_id, s.moved_at, s.version, s.is_deleted);
