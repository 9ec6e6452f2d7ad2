-- checkout_funnel: how far carts get, from creation to a confirmed order.
-- Grain: one row for the whole history.
-- Source: fact_carts and fact_orders, current state. carts_created counts every cart ever created
-- (deleted and expired ones too); checkouts_started the carts with CheckOut set; orders_confirmed
-- the confirmed, non-deleted orders; carts_abandoned the carts marked ABANDONED or removed (TTL or
-- delete) without a checkout.
SELECT (SELECT COUNT(*) FROM fact_carts) AS carts_created,
       (SELECT COUNT(*) FROM fact_carts WHERE checked_out) AS checkouts_started,
       (SELECT COUNT(*) FROM fact_orders WHERE status = 'CONFIRMED' AND NOT is_deleted) AS orders_confirmed,
       (SELECT COUNT(*) FROM fact_carts
         WHERE status = 'ABANDONED' OR (is_deleted AND NOT checked_out)) AS carts_abandoned;
