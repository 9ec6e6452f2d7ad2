-- stock_movements: stock added and taken per day, by action and reason.
-- Grain: one row per (day (UTC, of moved_at), action, reason).
-- Source: fact_inventory_movements, deleted movements excluded.
SELECT CAST(m.moved_at AS DATE) AS day,
       m.action,
       m.reason,
       COUNT(*) AS movements,
       SUM(m.qty) AS qty
FROM fact_inventory_movements AS m
WHERE NOT m.is_deleted
GROUP BY CAST(m.moved_at AS DATE), m.action, m.reason
ORDER BY day, action, reason;
