-- fact_order_lines: what was sold (top products by units and revenue).
-- Grain: one row per (order_id, line_no), line_no being the line's 1-based position in Orders.Lines;
-- version and is_deleted are the order's.
-- Source: Orders changes (Lines), applied by merge/fact_order_lines.sql. Co-located with fact_orders.
CREATE TABLE IF NOT EXISTS fact_order_lines (
    order_id    VARCHAR(64)   NOT NULL ENCODE zstd,
    line_no     INTEGER       NOT NULL ENCODE az64,
    sku         VARCHAR(64)   NOT NULL ENCODE zstd,
    qty         DECIMAL(38,0) NOT NULL ENCODE az64,
    unit_price  DECIMAL(38,2) NOT NULL ENCODE az64,
    line_amount DECIMAL(38,2) NOT NULL ENCODE az64,
    created_at  TIMESTAMP     NOT NULL ENCODE raw,
    version     BIGINT        NOT NULL ENCODE az64,
    is_deleted  BOOLEAN       NOT NULL,
    PRIMARY KEY (order_id, line_no)
)
DISTKEY (order_id)
COMPOUND SORTKEY (created_at, order_id);
