-- Add the customers a micro-batch mentions to dim_customer, keeping the earliest sighting.
-- Grain: one row per customer_id.
-- Source: stage_customers (CustomerId and the business timestamp of each staged change).
DELETE FROM stage_customers USING dim_customer
WHERE dim_customer.customer_id = stage_customers.customer_id
  AND dim_customer.first_seen_at <= stage_customers.first_seen_at;

MERGE INTO dim_customer USING stage_customers AS s
ON dim_customer.customer_id = s.customer_id
WHEN MATCHED THEN UPDATE SET first_seen_at = s.first_seen_at
WHEN NOT MATCHED THEN INSERT (customer_id, first_seen_at) VALUES (s.customer_id, s.first_seen_at);
