-- dim_date: the calendar, for grouping facts by day, month and weekday.
-- Grain: one row per calendar day (UTC) on which any fact happened.
-- Source: the days of the facts' timestamps, added by the warehouse projector (merge/dim_date.sql).
CREATE TABLE IF NOT EXISTS dim_date (
    date_key     DATE     NOT NULL ENCODE raw,
    year         SMALLINT NOT NULL ENCODE az64,
    quarter      SMALLINT NOT NULL ENCODE az64,
    month        SMALLINT NOT NULL ENCODE az64,
    day_of_month SMALLINT NOT NULL ENCODE az64,
    day_of_week  SMALLINT NOT NULL ENCODE az64,  -- 0 = Sunday .. 6 = Saturday
    is_weekend   BOOLEAN  NOT NULL,
    PRIMARY KEY (date_key)
)
DISTSTYLE ALL
SORTKEY (date_key);
