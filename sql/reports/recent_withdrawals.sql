-- Daily compliance report: the pairs whose SMS consent was withdrawn recently, i.e. gold
-- phone_consent rows with has_sms_consent = false and sms_consent_updated_at in the `days` days
-- ending on the report date `as_of` (as_of - days < sms_consent_updated_at <= as_of).
-- Parameters: the `params` line below; CURRENT_DATE by default (UTC in DataFusion, the session
-- time zone in DuckDB); write DATE 'YYYY-MM-DD' there for another day, and another window.
-- Deleted pairs are listed too (is_deleted says which); whatever the source, a withdrawal is one.
-- Dialect: DataFusion / DuckDB (runs unchanged in both), over the table `phone_consent`.
--   phone-consent sql "$(cat sql/reports/recent_withdrawals.sql)" --lake LAKE
--   duckdb: CREATE VIEW phone_consent AS SELECT * FROM delta_scan('LAKE/gold/phone_consent');
--           then the file's text.
WITH params AS (
  SELECT CURRENT_DATE AS as_of, 30 AS days -- report parameters
)
SELECT
  g.account_number,
  g.phone_number,
  g.phone_source,
  g.sms_consent_updated_at,
  g.is_deleted
FROM phone_consent g
CROSS JOIN params p
WHERE g.has_sms_consent = false
  AND g.sms_consent_updated_at > p.as_of - p.days
  AND g.sms_consent_updated_at <= p.as_of
ORDER BY g.sms_consent_updated_at DESC, g.account_number, g.phone_number
