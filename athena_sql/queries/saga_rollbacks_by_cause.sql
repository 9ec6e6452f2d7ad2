-- purpose: checkout saga rollbacks (cancelled orders) by cause.
-- definition: current orders with status CANCELLED, grouped by cancel_reason ('UNKNOWN' when null);
--             orders = count.
-- grain:   one row per cancel_reason
-- source:  view orders
-- order:   orders descending, then cancel_reason ascending
SELECT COALESCE(cancel_reason, 'UNKNOWN') AS cancel_reason,
       COUNT(*) AS orders
FROM orders
WHERE status = 'CANCELLED'
GROUP BY COALESCE(cancel_reason, 'UNKNOWN')
ORDER BY orders DESC, cancel_reason
