-- Daily compliance report: the pairs whose SMS consent was withdrawn recently, i.e. gold
-- phone_consent rows with has_sms_consent = false and sms_consent_updated_at in the `days` days
-- ending on the report date `as_of` (as_of - days < sms_consent_updated_at <= as_of).
-- Parameters: the `params` line below; current_date() by default (spark.sql.session.timeZone);
-- write DATE 'YYYY-MM-DD' there for another day, and another window.
-- Deleted pairs are listed too (is_deleted says which); whatever the source, a withdrawal is one.
-- Dialect: Spark SQL 3.x / Databricks (delta-spark).
-- Table: phone_consent.phone_consent, the Delta table at LAKE/gold/phone_consent, e.g. once:
--   CREATE TABLE IF NOT EXISTS phone_consent.phone_consent USING DELTA
--     LOCATION 's3://BUCKET/PREFIX/gold/phone_consent';
-- (or the same Glue table Athena uses, on EMR/Glue catalog), or write
-- delta.`s3://BUCKET/PREFIX/gold/phone_consent` in its place (needs delta-spark).
--   spark-sql -f sql/spark/recent_withdrawals.sql
WITH params AS (
  SELECT current_date() AS as_of, 30 AS days -- report parameters
)
SELECT
  g.account_number,
  g.phone_number,
  g.phone_source,
  g.sms_consent_updated_at,
  g.is_deleted
FROM phone_consent.phone_consent g
CROSS JOIN params p
WHERE g.has_sms_consent = false
  AND g.sms_consent_updated_at > date_sub(p.as_of, p.days)
  AND g.sms_consent_updated_at <= p.as_of
ORDER BY g.sms_consent_updated_at DESC, g.account_number, g.phone_number
