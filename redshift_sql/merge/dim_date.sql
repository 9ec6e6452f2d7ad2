-- Add the calendar days a micro-batch's facts fall on to dim_date.
-- Grain: one row per calendar day (UTC); a day already present is left as it is.
-- Source: stage_dates (the days of the batch's business timestamps).
-- The projector stages each day once; days already known are dropped before the MERGE.
DELETE FROM stage_dates USING dim_date
WHERE dim_date.date_key = stage_dates.date_key;

MERGE INTO dim_date USING stage_dates AS s
ON dim_date.date_key = s.date_key
WHEN MATCHED THEN UPDATE SET date_key = s.date_key
WHEN NOT MATCHED THEN INSERT (date_key, year, quarter, month, day_of_month, day_of_week, is_weekend)
VALUES (s.date_key, EXTRACT(YEAR FROM s.date_key), EXTRACT(QUARTER FROM s.date_key), EXTRACT(MONTH FROM s.date_key),
        EXTRACT(DAY FROM s.date_key), EXTRACT(DOW FROM s.date_key),
        EXTRACT(DOW FROM s.date_key) IN (0, 6));
