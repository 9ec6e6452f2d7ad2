-- purpose: stock movements per day, action and reason.
-- definition: inventory movements (immutable) grouped by the UTC date of moved_at, action, reason;
--             movements = count; qty = sum(qty) (quantities are positive; action says the sign).
-- grain:   one row per day, action, reason
-- source:  view inventory_movements
-- order:   day, action, reason ascending
SELECT CAST(moved_at AS DATE) AS day,
       action,
       reason,
       COUNT(*) AS movements,
       SUM(qty) AS qty
FROM inventory_movements
GROUP BY CAST(moved_at AS DATE), action, reason
ORDER BY day, action, reason
