-- fact_inventory_movements: stock added and taken, and why (restock, order reservation, release).
-- Grain: one row per (product_id, movement_id); movements are immutable (version 1).
-- Source: ProductCatalog changes with TranID <> "0", applied by merge/fact_inventory_movements.sql.
CREATE TABLE IF NOT EXISTS fact_inventory_movements (
    product_id  VARCHAR(64) NOT NULL ENCODE zstd,
    movement_id VARCHAR(64) NOT NULL ENCODE zstd,
    action      VARCHAR(8)  NOT NULL ENCODE bytedict,
    qty         DECIMAL(38,0) NOT NULL ENCODE az64,
    reason      VARCHAR(16) NOT NULL ENCODE bytedict,
    order_id    VARCHAR(64)          ENCODE zstd,
    moved_at    TIMESTAMP   NOT NULL ENCODE raw,
    version     BIGINT      NOT NULL ENCODE az64,
    is_deleted  BOOLEAN     NOT NULL,
    PRIMARY KEY (product_id, movement_id)
)
DISTKEY (product_id)
COMPOUND SORTKEY (moved_at, product_id);
