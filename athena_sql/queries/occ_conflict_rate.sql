-- purpose: how often optimistic-concurrency writes on carts conflicted.
-- definition: over current carts: cart_writes = sum(version) (every write raises Version by one);
--             conflicts = sum(conflict_count); conflict_rate = conflicts / cart_writes in exact
--             decimal arithmetic, rounded to 4 decimals, as decimal(10,4) (null when no writes).
-- grain:   one row
-- source:  view carts
-- order:   a single row
SELECT SUM(version) AS cart_writes,
       SUM(conflict_count) AS conflicts,
       CAST(ROUND(CAST(SUM(conflict_count) AS DECIMAL(18, 4)) / NULLIF(SUM(version), 0), 4)
            AS DECIMAL(10, 4)) AS conflict_rate
FROM carts
