-- fact_orders: orders and their saga outcome (revenue, rollbacks by cause, the funnel's last stage).
-- Grain: one row per order_id, its highest version; a deleted order keeps its last state, is_deleted.
-- Source: Orders changes, applied by merge/fact_orders.sql (version-guarded).
CREATE TABLE IF NOT EXISTS fact_orders (
    order_id      VARCHAR(64)   NOT NULL ENCODE zstd,
    customer_id   VARCHAR(64)   NOT NULL ENCODE zstd,
    cart_id       VARCHAR(64)            ENCODE zstd,
    status        VARCHAR(16)   NOT NULL ENCODE bytedict,
    total_amount  DECIMAL(38,2)          ENCODE az64,
    currency      CHAR(3)                ENCODE bytedict,
    cancel_reason VARCHAR(32)            ENCODE bytedict,
    saga_mode     VARCHAR(16)            ENCODE bytedict,
    created_at    TIMESTAMP     NOT NULL ENCODE raw,
    updated_at    TIMESTAMP              ENCODE az64,
    version       BIGINT        NOT NULL ENCODE az64,
    is_deleted    BOOLEAN       NOT NULL,
    PRIMARY KEY (order_id)
)
DISTKEY (order_id)
COMPOUND SORTKEY (created_at, order_id);
