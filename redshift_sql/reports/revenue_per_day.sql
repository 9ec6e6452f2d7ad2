-- revenue_per_day: confirmed orders and their revenue per day.
-- Grain: one row per calendar day (UTC, of orders.created_at) with at least one confirmed order.
-- Source: fact_orders, current state (highest version), deleted orders excluded.
SELECT CAST(o.created_at AS DATE) AS day,
       COUNT(*) AS orders,
       SUM(o.total_amount) AS revenue
FROM fact_orders AS o
WHERE o.status = 'CONFIRMED' AND NOT o.is_deleted
GROUP BY CAST(o.created_at AS DATE)
ORDER BY day;
