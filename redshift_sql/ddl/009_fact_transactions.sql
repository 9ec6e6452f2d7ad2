-- fact_transactions: posted card transactions (the volume the Second Look rules screen).
-- Grain: one row per transaction_id, its highest version.
-- Source: Transactions changes, applied by merge/fact_transactions.sql.
CREATE TABLE IF NOT EXISTS fact_transactions (
    transaction_id VARCHAR(64)   NOT NULL ENCODE zstd,
    customer_id    VARCHAR(64)   NOT NULL ENCODE zstd,
    payment_id     VARCHAR(64)            ENCODE zstd,
    merchant       VARCHAR(128)           ENCODE zstd,
    amount         DECIMAL(38,2) NOT NULL ENCODE az64,
    currency       CHAR(3)                ENCODE bytedict,
    country        VARCHAR(8)             ENCODE bytedict,
    posted_at      TIMESTAMP     NOT NULL ENCODE raw,
    version        BIGINT        NOT NULL ENCODE az64,
    is_deleted     BOOLEAN       NOT NULL,
    PRIMARY KEY (transaction_id)
)
DISTKEY (customer_id)
COMPOUND SORTKEY (posted_at, customer_id);
