-- purpose: Second Look alerts per rule.
-- definition: current alerts grouped by rule; alerts = count.
-- grain:   one row per rule
-- source:  view alerts
-- order:   alerts descending, then rule ascending
SELECT rule, COUNT(*) AS alerts
FROM alerts
GROUP BY rule
ORDER BY alerts DESC, rule
