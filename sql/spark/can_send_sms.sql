-- can_send_sms(account, phone) over gold phone_consent (SEMANTICS §7), with its reason code.
-- Dialect: Spark SQL 3.x / Databricks (delta-spark). Put the pairs to check in `request`
-- (account digits, phone as +1XXXXXXXXXX). An unknown pair is FALSE.
-- No stale_data policy: gold has no snapshot age (`phone-consent check --max-snapshot-age` has).
-- Table: phone_consent.phone_consent, the Delta table at LAKE/gold/phone_consent, e.g. once:
--   CREATE TABLE IF NOT EXISTS phone_consent.phone_consent USING DELTA
--     LOCATION 's3://BUCKET/PREFIX/gold/phone_consent';
-- (or the same Glue table Athena uses, on EMR/Glue catalog), or write
-- delta.`s3://BUCKET/PREFIX/gold/phone_consent` in its place (needs delta-spark).
--   spark-sql -f sql/spark/can_send_sms.sql   (or spark.sql(open(...).read()) in PySpark)
WITH request AS (
  SELECT * FROM VALUES ('1000000000000001', '+12125550101'), ('2000000000000002', '+12125550101')
  -- end of request
  AS t(account_number, phone_number)
)
SELECT
  r.account_number,
  r.phone_number,
  COALESCE(
    g.phone_source = 'CLIENT' AND NOT g.is_deleted AND (g.has_sms_consent IS NULL OR g.has_sms_consent),
    false
  ) AS can_send_sms,
  CASE
    WHEN g.account_number IS NULL THEN 'unknown_phone'
    WHEN g.is_deleted THEN 'deleted'
    WHEN g.phone_source <> 'CLIENT' THEN 'not_client_sourced'
    WHEN NOT g.has_sms_consent THEN 'consent_withdrawn'
    WHEN g.has_sms_consent THEN 'allowed_explicit_consent'
    ELSE 'allowed_implicit_consent'
  END AS reason
FROM request r
LEFT JOIN phone_consent.phone_consent g
  ON g.account_number = r.account_number AND g.phone_number = r.phone_number
ORDER BY r.account_number, r.phone_number
