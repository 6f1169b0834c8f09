-- Daily compliance report: how many (account, phone) pairs of gold phone_consent can_send_sms
-- allows and denies right now, by SEMANTICS §7 reason code (the CASE of can_send_sms.sql).
-- Every code a gold row can have is listed, 0 when no pair has it. `unknown_phone` and
-- `invalid_input` belong to a request, not to a gold row; gold has no snapshot age, so there is
-- no `stale_data` policy here: these are `check`'s answers without --max-snapshot-age.
-- Dialect: Spark SQL 3.x / Databricks (delta-spark).
-- Table: phone_consent.phone_consent, the Delta table at LAKE/gold/phone_consent, e.g. once:
--   CREATE TABLE IF NOT EXISTS phone_consent.phone_consent USING DELTA
--     LOCATION 's3://BUCKET/PREFIX/gold/phone_consent';
-- (or the same Glue table Athena uses, on EMR/Glue catalog), or write
-- delta.`s3://BUCKET/PREFIX/gold/phone_consent` in its place (needs delta-spark).
--   spark-sql -f sql/spark/decisions_by_reason.sql
WITH reasons AS (
  SELECT * FROM VALUES
    ('deleted', 1),
    ('not_client_sourced', 2),
    ('consent_withdrawn', 3),
    ('allowed_explicit_consent', 4),
    ('allowed_implicit_consent', 5)
  AS t(reason, precedence)
),
decided AS (
  SELECT
    COALESCE(
      g.phone_source = 'CLIENT' AND NOT g.is_deleted AND (g.has_sms_consent IS NULL OR g.has_sms_consent),
      false
    ) AS can_send_sms,
    CASE
      WHEN g.is_deleted THEN 'deleted'
      WHEN g.phone_source <> 'CLIENT' THEN 'not_client_sourced'
      WHEN NOT g.has_sms_consent THEN 'consent_withdrawn'
      WHEN g.has_sms_consent THEN 'allowed_explicit_consent'
      ELSE 'allowed_implicit_consent'
    END AS reason
  FROM phone_consent.phone_consent g
)
SELECT
  r.reason,
  SUM(CASE WHEN d.can_send_sms THEN 1 ELSE 0 END) AS allowed,
  SUM(CASE WHEN NOT d.can_send_sms THEN 1 ELSE 0 END) AS denied
FROM reasons r
LEFT JOIN decided d ON d.reason = r.reason
GROUP BY r.reason, r.precedence
ORDER BY r.precedence
