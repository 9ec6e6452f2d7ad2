-- fact_carts: shopping carts (the checkout funnel and the optimistic-concurrency conflict rate).
-- Grain: one row per cart_id, its highest version; a TTL-expired or deleted cart keeps its last
-- state with is_deleted = TRUE. item_count = distinct SKUs in CartItems.
-- Source: Cart changes, applied by merge/fact_carts.sql.
CREATE TABLE IF NOT EXISTS fact_carts (
    cart_id        VARCHAR(64) NOT NULL ENCODE zstd,
    customer_id    VARCHAR(64) NOT NULL ENCODE zstd,
    status         VARCHAR(16) NOT NULL ENCODE bytedict,
    checked_out    BOOLEAN     NOT NULL,
    item_count     DECIMAL(38,0) NOT NULL ENCODE az64,
    conflict_count DECIMAL(38,0) NOT NULL ENCODE az64,
    created_at     TIMESTAMP   NOT NULL ENCODE raw,
    updated_at     TIMESTAMP            ENCODE az64,
    version        BIGINT      NOT NULL ENCODE az64,
    is_deleted     BOOLEAN     NOT NULL,
    PRIMARY KEY (cart_id)
)
DISTKEY (cart_id)
COMPOUND SORTKEY (created_at, cart_id);
