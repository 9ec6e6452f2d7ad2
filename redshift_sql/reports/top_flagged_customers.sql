-- top_flagged_customers: the ten customers with the most Second Look alerts.
-- Grain: one row per customer (at most 10), with the alerts' count and flagged amount.
-- Source: fact_alerts, current state, deleted alerts excluded.
SELECT a.customer_id,
       COUNT(*) AS alerts,
       SUM(a.amount) AS amount
FROM fact_alerts AS a
WHERE NOT a.is_deleted
GROUP BY a.customer_id
ORDER BY alerts DESC, amount DESC, customer_id
LIMIT 10;
