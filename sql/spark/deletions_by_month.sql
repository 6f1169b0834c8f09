-- Daily compliance report: deleted pairs of gold phone_consent by month of deleted_at
-- ('yyyy-MM') and delete_type (hard_delete: gone from a snapshot; soft_delete: a delete record),
-- one row per month that has any, oldest first.
-- Dialect: Spark SQL 3.x / Databricks (delta-spark).
-- Table: phone_consent.phone_consent, the Delta table at LAKE/gold/phone_consent, e.g. once:
--   CREATE TABLE IF NOT EXISTS phone_consent.phone_consent USING DELTA
--     LOCATION 's3://BUCKET/PREFIX/gold/phone_consent';
-- (or the same Glue table Athena uses, on EMR/Glue catalog), or write
-- delta.`s3://BUCKET/PREFIX/gold/phone_consent` in its place (needs delta-spark).
--   spark-sql -f sql/spark/deletions_by_month.sql
SELECT
  date_format(g.deleted_at, 'yyyy-MM') AS month,
  SUM(CASE WHEN g.delete_type = 'hard_delete' THEN 1 ELSE 0 END) AS hard_delete,
  SUM(CASE WHEN g.delete_type = 'soft_delete' THEN 1 ELSE 0 END) AS soft_delete,
  count(*) AS total
FROM phone_consent.phone_consent g
WHERE g.is_deleted
GROUP BY date_format(g.deleted_at, 'yyyy-MM')
ORDER BY month NULLS LAST
