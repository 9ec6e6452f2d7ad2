-- Apply one micro-batch of Transactions changes from stage_transactions to fact_transactions.
-- Grain: one row per (transaction_id), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_transactions, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_transactions USING stage_transactions AS newer
WHERE newer.transaction_id = stage_transactions.transaction_id AND newer.version > stage_transactions.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_transactions USING fact_transactions
WHERE fact_transactions.transaction_id = stage_transactions.transaction_id AND fact_transactions.version >= stage_transactions.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_transactions USING stage_transactions AS s
ON fact_transactions.transaction_id = s.transaction_id
WHEN MATCHED THEN UPDATE SET
    customer_id = s.customer_id,
    payment_id = s.payment_id,
    merchant = s.merchant,
    amount = s.amount,
    currency = s.currency,
    country = s.country,
    posted_at = s.posted_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (transaction_id, customer_id, payment_id, merchant, amount, currency, country, posted_at, version, is_deleted)
VALUES (s.transaction_id, s.customer_id, s.payment_id, s.merchant, s.amount, s.currency, s.country, s.posted_at, s.version, s.is_deleted);
