-- Rebuild the SCD2 history of the products a micro-batch touched, from product_versions.
-- Grain: one row per product version whose name, category or price differs from the version before
-- it (the first version always counts); valid_to is the next such row's valid_from, is_current marks
-- the latest. qty, last_update and is_deleted come from the product's highest version (type 1).
-- Source: product_versions, for the product_ids still in stage_products (new versions only: the
-- product_versions merge dropped versions already stored). Rebuilding rather than patching keeps
-- the history right when versions arrive out of order. Tombstones end no range: a deleted
-- product keeps its last row, flagged is_deleted.
DELETE FROM dim_product
WHERE product_id IN (SELECT product_id FROM stage_products);

INSERT INTO dim_product (product_id, version, name, category, price, valid_from, valid_to, is_current, qty,
                         last_update, is_deleted)
SELECT c.product_id, c.version, c.name, c.category, c.price, c.valid_from,
       LEAD(c.valid_from) OVER (PARTITION BY c.product_id ORDER BY c.version) AS valid_to,
       ROW_NUMBER() OVER (PARTITION BY c.product_id ORDER BY c.version DESC) = 1 AS is_current,
       l.qty, l.last_update, l.is_deleted
FROM (
    SELECT v.product_id, v.version, v.name, v.category, v.price, v.last_update AS valid_from,
           LAG(v.name) OVER (PARTITION BY v.product_id ORDER BY v.version) AS prev_name,
           LAG(v.category) OVER (PARTITION BY v.product_id ORDER BY v.version) AS prev_category,
           LAG(v.price) OVER (PARTITION BY v.product_id ORDER BY v.version) AS prev_price,
           ROW_NUMBER() OVER (PARTITION BY v.product_id ORDER BY v.version) AS n
    FROM product_versions AS v
    WHERE NOT v.is_deleted
      AND v.product_id IN (SELECT product_id FROM stage_products)
) AS c
JOIN (
    SELECT product_id, qty, last_update, is_deleted
    FROM (
        SELECT product_id, qty, last_update, is_deleted,
               ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY version DESC) AS r
        FROM product_versions
        WHERE product_id IN (SELECT product_id FROM stage_products)
    ) AS ranked
    WHERE r = 1
) AS l ON l.product_id = c.product_id
WHERE c.n = 1
   OR COALESCE(c.name, '') <> COALESCE(c.prev_name, '')
   OR COALESCE(c.category, '') <> COALESCE(c.prev_category, '')
   OR COALESCE(c.price, -1) <> COALESCE(c.prev_price, -1);
