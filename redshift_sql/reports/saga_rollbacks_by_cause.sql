-- saga_rollbacks_by_cause: orders the checkout saga cancelled (rolled back), by cause.
-- Grain: one row per cancel_reason ('UNKNOWN' when a cancelled order carries none).
-- Source: fact_orders, current state, status CANCELLED, deleted orders excluded.
SELECT COALESCE(o.cancel_reason, 'UNKNOWN') AS cancel_reason,
       COUNT(*) AS orders
FROM fact_orders AS o
WHERE o.status = 'CANCELLED' AND NOT o.is_deleted
GROUP BY COALESCE(o.cancel_reason, 'UNKNOWN')
ORDER BY orders DESC, cancel_reason;
