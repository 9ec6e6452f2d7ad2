-- purpose: products out of stock now.
-- definition: current products with qty <= 0.
-- grain:   one row per product
-- source:  view products
-- order:   product_id ascending
SELECT product_id, name, qty
FROM products
WHERE qty <= 0
ORDER BY product_id
