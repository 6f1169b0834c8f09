-- Daily compliance report: the pairs whose SMS consent was withdrawn recently, i.e. gold
-- phone_consent rows with has_sms_consent = false and sms_consent_updated_at in the `days` days
-- ending on the report date `as_of` (as_of - days < sms_consent_updated_at <= as_of).
-- Parameters: the `params` line below; current_date by default (the session time zone, UTC in
-- Athena); write DATE 'YYYY-MM-DD' there for another day, and another window.
-- Deleted pairs are listed too (is_deleted says which); whatever the source, a withdrawal is one.
-- Dialect: Athena engine v3 (Trino SQL), over the Glue table phone_consent.phone_consent.
--   aws athena start-query-execution --work-group phone-consent --query-string "$(cat sql/athena/recent_withdrawals.sql)"
WITH params AS (
  SELECT current_date AS as_of, 30 AS days -- report parameters
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
  AND g.sms_consent_updated_at > date_add('day', -p.days, p.as_of)
  AND g.sms_consent_updated_at <= p.as_of
ORDER BY g.sms_consent_updated_at DESC, g.account_number, g.phone_number
