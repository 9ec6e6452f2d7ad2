-- dim_customer: every customer the command side has seen (there is no customer table upstream).
-- Grain: one row per customer_id.
-- Source: CustomerId of Cart, Orders, Payments, Transactions and Alerts changes; first_seen_at is the
-- earliest business timestamp seen for the customer (merge/dim_customer.sql keeps the least).
CREATE TABLE IF NOT EXISTS dim_customer (
    customer_id   VARCHAR(64) NOT NULL ENCODE raw,
    first_seen_at TIMESTAMP   NOT NULL ENCODE az64,
    PRIMARY KEY (customer_id)
)
DISTSTYLE ALL
SORTKEY (customer_id);
