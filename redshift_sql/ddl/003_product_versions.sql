-- product_versions: every version of every product row, as it arrived (append-only history).
-- Grain: one row per (product_id, version); a removal is a tombstone row with is_deleted = TRUE.
-- Source: ProductCatalog changes with TranID = "0". Kept because dim_product's SCD2 history must be
-- rebuilt from all versions when changes arrive out of order (a late version can split a range).
CREATE TABLE IF NOT EXISTS product_versions (
    product_id  VARCHAR(64)   NOT NULL ENCODE raw,
    version     BIGINT        NOT NULL ENCODE az64,
    name        VARCHAR(256)           ENCODE zstd,
    category    VARCHAR(128)           ENCODE zstd,
    price       DECIMAL(38,2)          ENCODE az64,
    qty         DECIMAL(38,0)          ENCODE az64,
    last_update TIMESTAMP              ENCODE az64,
    is_deleted  BOOLEAN       NOT NULL,
    PRIMARY KEY (product_id, version)
)
DISTKEY (product_id)
COMPOUND SORTKEY (product_id, version);
