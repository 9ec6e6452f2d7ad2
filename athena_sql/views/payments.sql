-- purpose: current state of each payment: the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per payment_id
-- source:  payment_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW payments AS
SELECT payment_id, order_id, customer_id, amount, currency, status, decline_reason, merchant, country, created_at, updated_at, version
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY payment_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM payment_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
