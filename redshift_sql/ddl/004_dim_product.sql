-- dim_product: products with their price/name/category history (slowly changing dimension, type 2).
-- Grain: one row per product version that changed price, name or category; valid_from..valid_to is
-- the period it held (valid_to NULL and is_current TRUE on the latest). qty, last_update and
-- is_deleted are type-1 attributes: the product's current stock and state, the same on all its rows.
-- Source: product_versions, rebuilt per touched product by merge/dim_product.sql.
CREATE TABLE IF NOT EXISTS dim_product (
    product_id  VARCHAR(64)   NOT NULL ENCODE raw,
    version     BIGINT        NOT NULL ENCODE az64,
    name        VARCHAR(256)           ENCODE zstd,
    category    VARCHAR(128)           ENCODE zstd,
    price       DECIMAL(38,2)          ENCODE az64,
    valid_from  TIMESTAMP              ENCODE az64,
    valid_to    TIMESTAMP              ENCODE az64,
    is_current  BOOLEAN       NOT NULL,
    qty         DECIMAL(38,0)          ENCODE az64,
    last_update TIMESTAMP              ENCODE az64,
    is_deleted  BOOLEAN       NOT NULL,
    PRIMARY KEY (product_id, version)
)
DISTSTYLE ALL
COMPOUND SORTKEY (product_id, version);
