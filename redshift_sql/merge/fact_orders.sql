-- Apply one micro-batch of Orders changes from stage_orders to fact_orders.
-- Grain: one row per (order_id), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_orders, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_orders USING stage_orders AS newer
WHERE newer.order_id = stage_orders.order_id AND newer.version > stage_orders.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_orders USING fact_orders
WHERE fact_orders.order_id = stage_orders.order_id AND fact_orders.version >= stage_orders.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_orders USING stage_orders AS s
ON fact_orders.order_id = s.order_id
WHEN MATCHED THEN UPDATE SET
    customer_id = s.customer_id,
    cart_id = s.cart_id,
    status = s.status,
    total_amount = s.total_amount,
    currency = s.currency,
    cancel_reason = s.cancel_reason,
    saga_mode = s.saga_mode,
    created_at = s.created_at,
    updated_at = s.updated_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (order_id, customer_id, cart_id, status, total_amount, currency, cancel_reason, saga_mode, created_at, updated_at, version, is_deleted)
VALUES (s.order_id, s.customer_id, s.cart_id, s.status, s.total_amount, s.currency, s.cancel_reason, s.saga_mode, s.created_at, s.updated_at, s.version, s.is_deleted);
