-- purpose: current state of each stock movement (immutable: version 1): the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per product_id, movement_id
-- source:  inventory_movement_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW inventory_movements AS
SELECT product_id, movement_id, action, qty, reason, order_id, moved_at
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY product_id, movement_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM inventory_movement_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
