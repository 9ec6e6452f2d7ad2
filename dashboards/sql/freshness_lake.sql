-- Freshness probe, lake (Athena dialect): time from the command-side write (event_time) to the row
-- landing in the lake (ingested_at), over the order changes ingested in the last hour of activity.
-- Grain: one row. Source: the lake's change log `order_changes` (projections/lake/schema.py).
SELECT max(event_time) AS newest_write,
       max(date_diff('millisecond', event_time, ingested_at)) AS max_lag_ms
FROM order_changes
WHERE ingested_at >= (SELECT max(ingested_at) FROM order_changes) - INTERVAL '1' HOUR
