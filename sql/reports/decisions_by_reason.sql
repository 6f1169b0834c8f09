-- Daily compliance report: how many (account, phone) pairs of gold phone_consent can_send_sms
-- allows and denies right now, by SEMANTICS §7 reason code (the CASE of sql/can_send_sms.sql).
-- Every code a gold row can have is listed, 0 when no pair has it. `unknown_phone` and
-- `invalid_input` belong to a request, not to a gold row; gold has no snapshot age, so there is
-- no `stale_data` policy here: these are `check`'s answers without --max-snapshot-age.
-- Dialect: DataFusion / DuckDB (runs unchanged in both), over the table `phone_consent`.
--   phone-consent sql "$(cat sql/reports/decisions_by_reason.sql)" --lake LAKE
--   duckdb: CREATE VIEW phone_consent AS SELECT * FROM delta_scan('LAKE/gold/phone_consent');
--           then the file's text.
WITH reasons (reason, precedence) AS (
  VALUES
    ('deleted', 1),
    ('not_client_sourced', 2),
    ('consent_withdrawn', 3),
    ('allowed_explicit_consent', 4),
    ('allowed_implicit_consent', 5)
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
  FROM phone_consent g
)
SELECT
  r.reason,
  SUM(CASE WHEN d.can_send_sms THEN 1 ELSE 0 END) AS allowed,
  SUM(CASE WHEN NOT d.can_send_sms THEN 1 ELSE 0 END) AS denied
FROM reasons r
LEFT JOIN decided d ON d.reason = r.reason
GROUP BY r.reason, r.precedence
ORDER BY r.precedence
