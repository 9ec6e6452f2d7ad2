-- purpose: the customers with the most Second Look alerts.
-- definition: current alerts grouped by customer_id; alerts = count; amount = sum(amount) of the
--             alerts' amounts (exact decimal); the top 10.
-- grain:   one row per customer (at most 10)
-- source:  view alerts
-- order:   alerts descending, amount descending, customer_id ascending; LIMIT 10
SELECT customer_id, COUNT(*) AS alerts, SUM(amount) AS amount
FROM alerts
GROUP BY customer_id
ORDER BY alerts DESC, amount DESC, customer_id
LIMIT 10
