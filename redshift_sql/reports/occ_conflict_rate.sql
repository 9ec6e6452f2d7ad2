-- occ_conflict_rate: how often optimistic-concurrency writes on carts conflicted.
-- Grain: one row.
-- Source: fact_carts, current carts (is_deleted left out). cart_writes = SUM(version) (every write
-- raises Version by one); conflicts = SUM(conflict_count); conflict_rate = conflicts / cart_writes
-- rounded to 4 decimals as DECIMAL(10,4), exact decimal arithmetic (NULL when there are no writes).
-- Same definition as athena_sql/queries/occ_conflict_rate.sql.
SELECT SUM(c.version) AS cart_writes,
       SUM(c.conflict_count) AS conflicts,
       CAST(ROUND(CAST(SUM(c.conflict_count) AS DECIMAL(38, 4)) / NULLIF(SUM(c.version), 0), 4)
            AS DECIMAL(10, 4)) AS conflict_rate
FROM fact_carts AS c
WHERE NOT c.is_deleted;
