-- purpose: current state of each card transaction: the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per transaction_id
-- source:  transaction_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW transactions AS
SELECT transaction_id, customer_id, payment_id, merchant, amount, currency, country, posted_at, version
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY transaction_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM transaction_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
