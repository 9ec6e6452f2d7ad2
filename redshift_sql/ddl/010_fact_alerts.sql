-- fact_alerts: Second Look alerts raised on transactions (alerts by rule, most flagged customers).
-- Grain: one row per alert_id, its highest version.
-- Source: Alerts changes, applied by merge/fact_alerts.sql.
CREATE TABLE IF NOT EXISTS fact_alerts (
    alert_id       VARCHAR(64)   NOT NULL ENCODE zstd,
    transaction_id VARCHAR(64)            ENCODE zstd,
    customer_id    VARCHAR(64)   NOT NULL ENCODE zstd,
    merchant       VARCHAR(128)           ENCODE zstd,
    rule           VARCHAR(32)   NOT NULL ENCODE bytedict,
    reason         VARCHAR(512)           ENCODE zstd,
    amount         DECIMAL(38,2)          ENCODE az64,
    status         VARCHAR(16)            ENCODE bytedict,
    raised_at      TIMESTAMP     NOT NULL ENCODE raw,
    version        BIGINT        NOT NULL ENCODE az64,
    is_deleted     BOOLEAN       NOT NULL,
    PRIMARY KEY (alert_id)
)
DISTKEY (customer_id)
COMPOUND SORTKEY (raised_at, customer_id);
