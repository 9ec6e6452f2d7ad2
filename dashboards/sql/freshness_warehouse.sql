-- Freshness probe, warehouse (Redshift dialect): the newest order change visible to reporting.
-- Grain: one row. Source: the warehouse table `orders` (docs/DOMAIN.md).
SELECT max(updated_at) AS newest_visible FROM orders
