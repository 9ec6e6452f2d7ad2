-- occ_conflict_rate: cart writes and the optimistic-concurrency conflicts their writers retried.
-- Grain: one row for the whole history.
-- Source: fact_carts, current state. A cart's writes = its Version (raised by one per write; for a
-- removed cart the tombstone version minus one); conflicts = ConflictCount; the rate is
-- conflicts / cart_writes rounded to 4 decimals (NULL when there were no writes).
SELECT w.cart_writes,
       w.conflicts,
       ROUND(CAST(w.conflicts AS DECIMAL(18, 4)) / NULLIF(w.cart_writes, 0), 4) AS conflict_rate
FROM (
    SELECT COALESCE(SUM(c.version - CASE WHEN c.is_deleted THEN 1 ELSE 0 END), 0) AS cart_writes,
           COALESCE(SUM(c.conflict_count), 0) AS conflicts
    FROM fact_carts AS c
) AS w;
