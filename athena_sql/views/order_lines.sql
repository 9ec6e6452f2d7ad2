-- purpose: the lines of each current order: the lines written with the order's latest change
--          (same version and sequence number), tombstoned orders excluded; line_no counts from 1.
-- grain:   one row per order_id, line_no
-- source:  order_changes (to pick the latest change) and order_line_changes (one row per line per
--          order change, derived by the lake projector from the order's Lines)
CREATE OR REPLACE VIEW order_lines AS
WITH latest AS (
    SELECT order_id, version, sequence_number, op, created_at,
           ROW_NUMBER() OVER (PARTITION BY order_id
                              ORDER BY version DESC, LENGTH(sequence_number) DESC, sequence_number DESC) AS rn
    FROM order_changes
), lines AS (
    SELECT l.*,
           ROW_NUMBER() OVER (PARTITION BY order_id, line_no, version, sequence_number ORDER BY ingested_at DESC) AS rn
    FROM order_line_changes l
)
SELECT o.order_id, l.line_no, l.sku, l.qty, l.unit_price, l.line_amount, o.created_at, o.version
FROM latest o
JOIN lines l
  ON l.order_id = o.order_id AND l.version = o.version AND l.sequence_number = o.sequence_number AND l.rn = 1
WHERE o.rn = 1 AND o.op <> 'REMOVE'
