-- Append a micro-batch's product versions to product_versions (the history dim_product is built from).
-- Grain: one row per (product_id, version); a version already stored is never rewritten
-- (versions are immutable, so duplicates and retried batches change nothing).
-- Source: stage_products (ProductCatalog rows with TranID = "0").
DELETE FROM stage_products USING product_versions
WHERE product_versions.product_id = stage_products.product_id
  AND product_versions.version = stage_products.version;

MERGE INTO product_versions USING stage_products AS s
ON product_versions.product_id = s.product_id AND product_versions.version = s.version
WHEN MATCHED THEN UPDATE SET is_deleted = s.is_deleted
WHEN NOT MATCHED THEN INSERT (product_id, version, name, category, price, qty, last_update, is_deleted)
VALUES (s.product_id, s.version, s.name, s.category, s.price, s.qty, s.last_update, s.is_deleted);
