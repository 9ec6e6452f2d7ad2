-- Read-model views with the names and columns of docs/DOMAIN.md (the same names the lake's views
-- use), for ad-hoc queries and probes that must read alike on both sides.
-- Grain: one row per aggregate (its highest version), removed ones (is_deleted) left out.
-- Source: the fact tables, and product_versions for products (its latest non-removed version).
CREATE OR REPLACE VIEW orders AS
SELECT order_id, customer_id, cart_id, status, total_amount, currency, cancel_reason, saga_mode, created_at,
       updated_at, version
FROM fact_orders WHERE NOT is_deleted;

CREATE OR REPLACE VIEW order_lines AS
SELECT order_id, line_no, sku, qty, unit_price, line_amount, created_at, version
FROM fact_order_lines WHERE NOT is_deleted;

CREATE OR REPLACE VIEW carts AS
SELECT cart_id, customer_id, status, checked_out, item_count, conflict_count, created_at, updated_at, version
FROM fact_carts WHERE NOT is_deleted;

CREATE OR REPLACE VIEW products AS
SELECT product_id, name, category, price, qty, last_update, version
FROM (
    SELECT v.*, ROW_NUMBER() OVER (PARTITION BY v.product_id ORDER BY v.version DESC) AS r
    FROM product_versions AS v
) AS latest
WHERE r = 1 AND NOT is_deleted;

CREATE OR REPLACE VIEW inventory_movements AS
SELECT product_id, movement_id, action, qty, reason, order_id, moved_at
FROM fact_inventory_movements WHERE NOT is_deleted;

CREATE OR REPLACE VIEW payments AS
SELECT payment_id, order_id, customer_id, amount, currency, status, decline_reason, merchant, country, created_at,
       updated_at, version
FROM fact_payments WHERE NOT is_deleted;

CREATE OR REPLACE VIEW transactions AS
SELECT transaction_id, customer_id, payment_id, merchant, amount, currency, country, posted_at, version
FROM fact_transactions WHERE NOT is_deleted;

CREATE OR REPLACE VIEW alerts AS
SELECT alert_id, transaction_id, customer_id, merchant, rule, reason, amount, status, raised_at, version
FROM fact_alerts WHERE NOT is_deleted;
