-- checkout_funnel: how far carts get, from creation to a confirmed order, over the current state.
-- Grain: one row.
-- Source: fact_carts and fact_orders, current state (highest version), removed rows (is_deleted:
-- deleted or TTL-expired) left out. carts_created = current carts; checkouts_started = current
-- orders of any status (every checkout creates one order; a cart's CheckOut flag is held only while
-- its checkout runs, so it cannot count them); orders_confirmed = current orders with status
-- CONFIRMED; carts_abandoned = current carts with status ABANDONED.
-- Same definition as athena_sql/queries/checkout_funnel.sql.
SELECT (SELECT COUNT(*) FROM fact_carts WHERE NOT is_deleted) AS carts_created,
       (SELECT COUNT(*) FROM fact_orders WHERE NOT is_deleted) AS checkouts_started,
       (SELECT COUNT(*) FROM fact_orders WHERE NOT is_deleted AND status = 'CONFIRMED') AS orders_confirmed,
       (SELECT COUNT(*) FROM fact_carts WHERE NOT is_deleted AND status = 'ABANDONED') AS carts_abandoned;
