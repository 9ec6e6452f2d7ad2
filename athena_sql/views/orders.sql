-- purpose: current state of each order: the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per order_id
-- source:  order_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW orders AS
SELECT order_id, customer_id, cart_id, status, total_amount, currency, cancel_reason, saga_mode, created_at, updated_at, version
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY order_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM order_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
