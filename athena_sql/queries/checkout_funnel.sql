-- purpose: the checkout funnel over the current state.
-- definition: carts_created = current (not deleted/expired) carts; checkouts_started = those carts
--             with checked_out = true; orders_confirmed = current orders with status CONFIRMED;
--             carts_abandoned = current carts with status ABANDONED.
-- grain:   one row
-- source:  views carts, orders
-- order:   a single row (no ORDER BY needed)
SELECT (SELECT COUNT(*) FROM carts) AS carts_created,
       (SELECT COUNT(*) FROM carts WHERE checked_out = TRUE) AS checkouts_started,
       (SELECT COUNT(*) FROM orders WHERE status = 'CONFIRMED') AS orders_confirmed,
       (SELECT COUNT(*) FROM carts WHERE status = 'ABANDONED') AS carts_abandoned
