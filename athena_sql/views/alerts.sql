-- purpose: current state of each Second Look alert: the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per alert_id
-- source:  alert_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW alerts AS
SELECT alert_id, transaction_id, customer_id, merchant, rule, reason, amount, status, raised_at, version
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY alert_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM alert_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
