-- purpose: current state of each cart (item_count = the sum of the items' Qty): the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per cart_id
-- source:  cart_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW carts AS
SELECT cart_id, customer_id, status, checked_out, item_count, conflict_count, created_at, updated_at, version
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY cart_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM cart_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
