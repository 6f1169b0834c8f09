-- Daily compliance report: deleted pairs of gold phone_consent by month of deleted_at
-- ('YYYY-MM') and delete_type (hard_delete: gone from a snapshot; soft_delete: a delete record),
-- one row per month that has any, oldest first.
-- Dialect: Athena engine v3 (Trino SQL), over the Glue table phone_consent.phone_consent.
--   aws athena start-query-execution --work-group phone-consent --query-string "$(cat sql/athena/deletions_by_month.sql)"
SELECT
  substr(CAST(g.deleted_at AS varchar), 1, 7) AS month,
  SUM(CASE WHEN g.delete_type = 'hard_delete' THEN 1 ELSE 0 END) AS hard_delete,
  SUM(CASE WHEN g.delete_type = 'soft_delete' THEN 1 ELSE 0 END) AS soft_delete,
  count(*) AS total
FROM phone_consent.phone_consent g
WHERE g.is_deleted
GROUP BY substr(CAST(g.deleted_at AS varchar), 1, 7)
ORDER BY month NULLS LAST
