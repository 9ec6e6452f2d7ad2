-- purpose: catalog definitions of the lake. The change-log tables `<entity>_changes` (order,
--          order_line, cart, product, inventory_movement, payment, transaction, alert) are created
--          and evolved by the lake projector in Glue (projections/lake/store.py: Parquet, partitioned
--          by dt string, new attributes become new nullable columns), so no DDL is run here; this
--          file documents the shape every change log shares.
-- grain:   one row per change (a DynamoDB stream record), per entity
-- source:  s3://<lake_bucket>/changes/<entity>/dt=YYYY-MM-DD/<shard>-<firstseq>-<lastseq>.parquet
SELECT op, version, event_time, sequence_number, is_ttl_expiry, ingested_at, dt
FROM order_changes
WHERE 1 = 0
