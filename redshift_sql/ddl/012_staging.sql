-- Staging tables: where one micro-batch of the warehouse projector lands before it is merged.
-- Grain: one row per change, as decoded (the projector already keeps the highest version per key;
-- merge/ deduplicates again in SQL and drops rows not newer than the target before each MERGE).
-- Source: COPY from the batch's Parquet on S3 (AWS) or COPY FROM STDIN (local); every load runs
-- in ONE transaction that empties these tables again before it commits, so they are empty at rest.
-- Only keys and versions are NOT NULL here: the targets' constraints judge the rest at MERGE time.
CREATE TABLE IF NOT EXISTS stage_orders (
    order_id VARCHAR(64) NOT NULL, customer_id VARCHAR(64), cart_id VARCHAR(64), status VARCHAR(16),
    total_amount DECIMAL(38,2), currency CHAR(3), cancel_reason VARCHAR(32), saga_mode VARCHAR(16),
    created_at TIMESTAMP, updated_at TIMESTAMP, version BIGINT NOT NULL, is_deleted BOOLEAN NOT NULL
) DISTKEY (order_id);

CREATE TABLE IF NOT EXISTS stage_order_lines (
    order_id VARCHAR(64) NOT NULL, line_no INTEGER NOT NULL, sku VARCHAR(64), qty DECIMAL(38,0),
    unit_price DECIMAL(38,2), line_amount DECIMAL(38,2), created_at TIMESTAMP,
    version BIGINT NOT NULL, is_deleted BOOLEAN NOT NULL
) DISTKEY (order_id);

CREATE TABLE IF NOT EXISTS stage_payments (
    payment_id VARCHAR(64) NOT NULL, order_id VARCHAR(64), customer_id VARCHAR(64), amount DECIMAL(38,2),
    currency CHAR(3), status VARCHAR(16), decline_reason VARCHAR(64), merchant VARCHAR(128),
    country VARCHAR(8), created_at TIMESTAMP, updated_at TIMESTAMP, version BIGINT NOT NULL,
    is_deleted BOOLEAN NOT NULL
) DISTKEY (order_id);

CREATE TABLE IF NOT EXISTS stage_inventory_movements (
    product_id VARCHAR(64) NOT NULL, movement_id VARCHAR(64) NOT NULL, action VARCHAR(8), qty DECIMAL(38,0),
    reason VARCHAR(16), order_id VARCHAR(64), moved_at TIMESTAMP, version BIGINT NOT NULL,
    is_deleted BOOLEAN NOT NULL
) DISTKEY (product_id);

CREATE TABLE IF NOT EXISTS stage_transactions (
    transaction_id VARCHAR(64) NOT NULL, customer_id VARCHAR(64), payment_id VARCHAR(64),
    merchant VARCHAR(128), amount DECIMAL(38,2), currency CHAR(3), country VARCHAR(8),
    posted_at TIMESTAMP, version BIGINT NOT NULL, is_deleted BOOLEAN NOT NULL
) DISTKEY (customer_id);

CREATE TABLE IF NOT EXISTS stage_alerts (
    alert_id VARCHAR(64) NOT NULL, transaction_id VARCHAR(64), customer_id VARCHAR(64),
    merchant VARCHAR(128), rule VARCHAR(32), reason VARCHAR(512), amount DECIMAL(38,2),
    status VARCHAR(16), raised_at TIMESTAMP, version BIGINT NOT NULL, is_deleted BOOLEAN NOT NULL
) DISTKEY (customer_id);

CREATE TABLE IF NOT EXISTS stage_carts (
    cart_id VARCHAR(64) NOT NULL, customer_id VARCHAR(64), status VARCHAR(16), checked_out BOOLEAN,
    item_count DECIMAL(38,0), conflict_count DECIMAL(38,0), created_at TIMESTAMP, updated_at TIMESTAMP,
    version BIGINT NOT NULL, is_deleted BOOLEAN NOT NULL
) DISTKEY (cart_id);

CREATE TABLE IF NOT EXISTS stage_products (
    product_id VARCHAR(64) NOT NULL, version BIGINT NOT NULL, name VARCHAR(256), category VARCHAR(128),
    price DECIMAL(38,2), qty DECIMAL(38,0), last_update TIMESTAMP, is_deleted BOOLEAN NOT NULL
) DISTKEY (product_id);

CREATE TABLE IF NOT EXISTS stage_customers (
    customer_id VARCHAR(64) NOT NULL, first_seen_at TIMESTAMP NOT NULL
) DISTSTYLE EVEN;

CREATE TABLE IF NOT EXISTS stage_dates (
    date_key DATE NOT NULL
) DISTSTYLE EVEN;
