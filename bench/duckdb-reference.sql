-- The reference the issue measures us against (issue 2: "a DuckDB SQL script builds a
-- comparable gold (no bronze) in 12.6 s"), rebuilt so it can be measured on our machine:
-- every row of every file read, keys normalised as ours are, and per key the facts gold is
-- made of (last snapshot listing, soft delete, enrollment, consent by consent date, status).
-- It does not apply SEMANTICS (no deletion fold, no dedup, no rejects, no as-of): a lower
-- bound for a DuckDB gold, not a second implementation. FEED is replaced by the feed's path.
CREATE TABLE gold AS
WITH rows AS (
  SELECT rtrim(cnsmr_idntfr_lgcy_txt, 'P') AS account, right(cnsmr_phn_nmbr_txt, 10) AS phone,
         CAST(strptime(regexp_extract(filename, '-(\d{8})\d{9}-', 1), '%Y%m%d') AS DATE) AS d,
         'S' AS kind, cnsmr_phn_cnsnt_flg AS flag,
         TRY_CAST(cnsmr_phn_cnsnt_dt AS DATE) AS consent_date, cnsmr_phn_stts_val_txt AS status
    FROM read_csv('FEED/MAINTENANCE/*-NON-FIN-*.csv.gz', delim = '|', header = true,
                  all_varchar = true, filename = true)
  UNION ALL
  SELECT rtrim(cnsmr_idntfr_lgcy_txt, 'P'), right(cnsmr_phn_nmbr_txt, 10),
         TRY_CAST(record_date AS DATE),
         CASE WHEN cnsmr_phn_sft_dlt_flg = 'Y' THEN 'D' ELSE 'C' END,
         cnsmr_phn_cnsnt_flg, TRY_CAST(cnsmr_phn_cnsnt_dt AS DATE), cnsmr_phn_stts_val_txt
    FROM read_csv('FEED/MAINTENANCE/*-SUPPLFWD-*.csv.gz', delim = '|', header = true,
                  all_varchar = true)
  UNION ALL
  SELECT account_number, right(phone_number, 10), TRY_CAST(enrollment_date AS DATE), 'E',
         NULL, NULL, phone_status
    FROM read_csv('FEED/ENROLLMENT/*.csv.gz', delim = '|', header = true, all_varchar = true)
)
SELECT account, phone,
       max(d) FILTER (WHERE kind = 'S') AS last_listed,
       min(d) FILTER (WHERE kind = 'D') AS soft_deleted,
       min(d) FILTER (WHERE kind = 'E') AS enrolled,
       arg_max(flag, consent_date) FILTER (WHERE flag IN ('Y', 'N')) AS consent,
       arg_max(status, d) AS status
FROM rows
GROUP BY account, phone;
