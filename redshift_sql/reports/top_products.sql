-- top_products: the ten best-selling SKUs by revenue of confirmed orders.
-- Grain: one row per SKU (at most 10), with units sold and revenue.
-- Source: fact_order_lines joined to fact_orders (status CONFIRMED), deleted orders excluded.
SELECT l.sku,
       SUM(l.qty) AS units,
       SUM(l.line_amount) AS revenue
FROM fact_order_lines AS l
JOIN fact_orders AS o ON o.order_id = l.order_id
WHERE o.status = 'CONFIRMED' AND NOT o.is_deleted AND NOT l.is_deleted
GROUP BY l.sku
ORDER BY revenue DESC, units DESC, sku
LIMIT 10;
