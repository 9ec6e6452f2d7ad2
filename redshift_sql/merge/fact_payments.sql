-- Apply one micro-batch of Payments changes from stage_payments to fact_payments.
-- Grain: one row per (payment_id), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_payments, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_payments USING stage_payments AS newer
WHERE newer.payment_id = stage_payments.payment_id AND newer.version > stage_payments.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_payments USING fact_payments
WHERE fact_payments.payment_id = stage_payments.payment_id AND fact_payments.version >= stage_payments.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_payments USING stage_payments AS s
ON fact_payments.payment_id = s.payment_id
WHEN MATCHED THEN UPDATE SET
    order_id = s.order_id,
    customer_id = s.customer_id,
    amount = s.amount,
    currency = s.currency,
    status = s.status,
    decline_reason = s.decline_reason,
    merchant = s.merchant,
    country = s.country,
    created_at = s.created_at,
    updated_at = s.updated_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (payment_id, order_id, customer_id, amount, currency, status, decline_reason, merchant, country, created_at, updated_at, version, is_deleted)
VALUES (s.payment_id, s.order_id, s.customer_id, s.amount, s.currency, s.status, s.decline_reason, s.merchant, s.country, s.created_at, s.updated_at, s.version, s.is_deleted);
