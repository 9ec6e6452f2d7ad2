-- stockouts: products with no stock on hand.
-- Grain: one row per product whose current Qty is zero or less.
-- Source: dim_product, current row, deleted products excluded.
SELECT p.product_id,
       p.name,
       p.qty
FROM dim_product AS p
WHERE p.is_current AND NOT p.is_deleted AND p.qty <= 0
ORDER BY p.product_id;
