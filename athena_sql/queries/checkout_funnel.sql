-- purpose: the checkout funnel over the current state.
-- definition: carts_created = current (not deleted/expired) carts; checkouts_started = current
--             orders of any status (every checkout creates one order; a cart's CheckOut flag is only
--             held while its checkout runs, so it cannot count them); orders_confirmed = current
--             orders with status CONFIRMED; carts_abandoned = current carts with status ABANDONED.
-- grain:   one row
-- source:  views carts, orders
-- order:   a single row (no ORDER BY needed)
SELECT (SELECT COUNT(*) FROM carts) AS carts_created,
       (SELECT COUNT(*) FROM orders) AS checkouts_started,
       (SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED') AS orders_confirmed,
       (SELECT COUNT(*) FROM carts WHERE status = 'ABANDONED') AS carts_abandoned
