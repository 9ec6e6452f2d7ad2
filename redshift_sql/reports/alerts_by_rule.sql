-- alerts_by_rule: Second Look alerts raised, by rule.
-- Grain: one row per rule.
-- Source: fact_alerts, current state, deleted alerts excluded.
SELECT a.rule,
       COUNT(*) AS alerts
FROM fact_alerts AS a
WHERE NOT a.is_deleted
GROUP BY a.rule
ORDER BY alerts DESC, rule;
