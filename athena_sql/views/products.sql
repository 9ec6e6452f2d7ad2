-- purpose: current state of each product (qty = stock on hand): the latest version per key (highest version, then the
--          highest sequence number), tombstones (op = 'REMOVE', user deletes and TTL expiries) excluded.
--          Duplicated, reordered or replayed deliveries and compaction leave it unchanged.
-- grain:   one row per product_id
-- source:  product_changes (the lake's append-only change log; Glue table, Parquet on S3, partitioned by dt)
CREATE OR REPLACE VIEW products AS
SELECT product_id, name, category, price, qty, last_update, version
FROM (
    SELECT c.*,
           ROW_NUMBER() OVER (PARTITION BY product_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM product_changes c
) latest
WHERE rn = 1 AND op <> 'REMOVE'
