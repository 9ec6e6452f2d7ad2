-- Apply one micro-batch of Alerts changes from stage_alerts to fact_alerts.
-- Grain: one row per (alert_id), the highest version wins; a removal is a versioned
-- tombstone (is_deleted = TRUE), never a physical delete.
-- Source: stage_alerts, loaded by the warehouse projector; runs inside the batch's single transaction.
-- Redshift's MERGE takes no condition on WHEN MATCHED (and its source must be a table), so the
-- version guard "WHEN MATCHED AND s.version > t.version" is applied to the staged rows first.

-- 1. Keep only the highest version per key in the batch.
DELETE FROM stage_alerts USING stage_alerts AS newer
WHERE newer.alert_id = stage_alerts.alert_id AND newer.version > stage_alerts.version;

-- 2. Version guard: drop staged rows that are not newer than what the warehouse already holds
--    (duplicates, late arrivals and retried batches change nothing).
DELETE FROM stage_alerts USING fact_alerts
WHERE fact_alerts.alert_id = stage_alerts.alert_id AND fact_alerts.version >= stage_alerts.version;

-- 3. Apply what is left: every remaining staged row is newer than its target row, or new.
MERGE INTO fact_alerts USING stage_alerts AS s
ON fact_alerts.alert_id = s.alert_id
WHEN MATCHED THEN UPDATE SET
    transaction_id = s.transaction_id,
    customer_id = s.customer_id,
    merchant = s.merchant,
    rule = s.rule,
    reason = s.reason,
    amount = s.amount,
    status = s.status,
    raised_at = s.raised_at,
    version = s.version,
    is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (alert_id, transaction_id, customer_id, merchant, rule, reason, amount, status, raised_at, version, is_deleted)
VALUES (s.alert_id, s.transaction_id, s.customer_id, s.merchant, s.rule, s.reason, s.amount, s.status, s.raised_at, s.version, s.is_deleted);
