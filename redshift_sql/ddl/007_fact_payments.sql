-- fact_payments: payment attempts of the checkout saga (captures, declines, refunds).
-- Grain: one row per payment_id, its highest version.
-- Source: Payments changes, applied by merge/fact_payments.sql.
CREATE TABLE IF NOT EXISTS fact_payments (
    payment_id     VARCHAR(64)   NOT NULL ENCODE zstd,
    order_id       VARCHAR(64)            ENCODE zstd,
    customer_id    VARCHAR(64)   NOT NULL ENCODE zstd,
    amount         DECIMAL(38,2)          ENCODE az64,
    currency       CHAR(3)                ENCODE bytedict,
    status         VARCHAR(16)   NOT NULL ENCODE bytedict,
    decline_reason VARCHAR(64)            ENCODE zstd,
    merchant       VARCHAR(128)           ENCODE zstd,
    country        VARCHAR(8)             ENCODE bytedict,
    created_at     TIMESTAMP     NOT NULL ENCODE raw,
    updated_at     TIMESTAMP              ENCODE az64,
    version        BIGINT        NOT NULL ENCODE az64,
    is_deleted     BOOLEAN       NOT NULL,
    PRIMARY KEY (payment_id)
)
DISTKEY (order_id)
COMPOUND SORTKEY (created_at, payment_id);
