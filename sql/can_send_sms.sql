-- can_send_sms(account, phone) over gold phone_consent (SEMANTICS §7).
-- DataFusion / DuckDB dialect. Put the pairs to check in `request` (account digits, phone as
-- +1XXXXXXXXXX), or replace `request` with your own table of pairs. An unknown pair is FALSE.
--   phone-consent sql "$(cat sql/can_send_sms.sql)"
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
LEFT JOIN phone_consent g
  ON g.account_number = r.account_number AND g.phone_number = r.phone_number
ORDER BY r.account_number, r.phone_number
