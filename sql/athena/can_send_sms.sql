-- can_send_sms(account, phone) over gold phone_consent (SEMANTICS §7), with its reason code.
-- Dialect: Athena engine v3 (Trino SQL), over the Glue table phone_consent.phone_consent
-- (database `phone_consent` of infra/catalog.tf: the Delta table LAKE/gold/phone_consent).
-- Put the pairs to check in `request` (account digits, phone as +1XXXXXXXXXX). An unknown
-- pair is FALSE.
-- No stale_data policy: gold has no snapshot age (`phone-consent check --max-snapshot-age` has).
--   aws athena start-query-execution --work-group phone-consent --query-string "$(cat sql/athena/can_send_sms.sql)"
WITH request (account_number, phone_number) AS (
  VALUES ('1000000000000001', '+12125550101'), ('2000000000000002', '+12125550101')
  -- end of request
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
