-- purpose: confirmed revenue per day.
-- definition: orders whose current status is CONFIRMED; day = the UTC date of created_at;
--             orders = count of such orders; revenue = sum(total_amount), exact decimal(38,2).
-- grain:   one row per day (days without confirmed orders are absent)
-- source:  view orders
-- order:   day ascending
SELECT CAST(created_at AS DATE) AS day,
       COUNT(*) AS orders,
       SUM(total_amount) AS revenue
FROM orders
WHERE status = 'CONFIRMED'
GROUP BY CAST(created_at AS DATE)
ORDER BY day
