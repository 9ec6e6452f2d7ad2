-- purpose: best-selling products.
-- definition: lines of current orders with status CONFIRMED grouped by sku; units = sum(qty);
--             revenue = sum(line_amount) (exact decimal); the top 10.
-- grain:   one row per sku (at most 10)
-- source:  views order_lines, orders
-- order:   revenue descending, units descending, sku ascending; LIMIT 10
SELECT l.sku, SUM(l.qty) AS units, SUM(l.line_amount) AS revenue
FROM order_lines l
JOIN orders o ON o.order_id = l.order_id
WHERE o.status = 'CONFIRMED'
GROUP BY l.sku
ORDER BY revenue DESC, units DESC, l.sku
LIMIT 10
