//! SEMANTICS §1: the header contract of each kind — columns matched by name, trimmed and
//! case-insensitively; required columns are those a rule reads.

use phone_consent_core::FileKind;

/// One column of a kind's contract.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The canonical name (the bronze column name).
    pub name: &'static str,
    /// Other names accepted for it.
    pub aliases: &'static [&'static str],
    /// True when a rule reads it: a file without it is rejected whole.
    pub required: bool,
    /// True for PII (SSN, names): kept in bronze only as a keyed hash.
    pub pii: bool,
}

const fn col(name: &'static str, required: bool) -> Column {
    Column {
        name,
        aliases: &[],
        required,
        pii: false,
    }
}

const fn pii(name: &'static str) -> Column {
    Column {
        name,
        aliases: &[],
        required: false,
        pii: true,
    }
}

const NONFIN: [Column; 14] = [
    col("cnsmr_phn_id", false),
    col("cnsmr_idntfr_lgcy_txt", true),
    col("cnsmr_idntfr_agncy_id", false),
    pii("cnsmr_idntfr_ssn_txt"),
    pii("cnsmr_nm_frst_txt"),
    pii("cnsmr_nm_lst_txt"),
    col("cnsmr_phn_nmbr_txt", true),
    col("cnsmr_phn_typ_val_txt", false),
    col("cnsmr_phn_stts_val_txt", false),
    col("cnsmr_phn_src_val_txt", true),
    col("cnsmr_phn_tchnlgy_typ_val_txt", false),
    col("cnsmr_phn_qlty_score_nmbr", false),
    col("cnsmr_phn_cnsnt_flg", true),
    col("cnsmr_phn_cnsnt_dt", true),
];

const SUPPLFWD: [Column; 16] = [
    Column {
        name: "cnsmr_phn_hst_id",
        aliases: &["cnsmr_phn_id"],
        required: false,
        pii: false,
    },
    col("cnsmr_idntfr_lgcy_txt", true),
    col("cnsmr_idntfr_agncy_id", false),
    pii("cnsmr_idntfr_ssn_txt"),
    pii("cnsmr_nm_frst_txt"),
    pii("cnsmr_nm_lst_txt"),
    col("cnsmr_phn_nmbr_txt", true),
    col("cnsmr_phn_typ_val_txt", false),
    col("cnsmr_phn_stts_val_txt", false),
    col("cnsmr_phn_src_val_txt", true),
    col("cnsmr_phn_tchnlgy_typ_val_txt", false),
    col("cnsmr_phn_qlty_score_nmbr", false),
    col("cnsmr_phn_cnsnt_flg", true),
    col("cnsmr_phn_cnsnt_dt", true),
    col("cnsmr_phn_sft_dlt_flg", true),
    col("record_date", true),
];

const ENRLMT: [Column; 13] = [
    col("account_number", true),
    col("consumer_legacy_identifier", false),
    col("agency_id", false),
    pii("ssn"),
    pii("first_name"),
    pii("last_name"),
    col("phone_number", true),
    col("phone_type", false),
    col("phone_technology", false),
    col("phone_status", false),
    col("phone_source", true),
    col("quality_score", false),
    col("enrollment_date", true),
];

/// The columns of a kind, in canonical (bronze) order.
pub fn columns(kind: FileKind) -> &'static [Column] {
    match kind {
        FileKind::Snapshot => &NONFIN,
        FileKind::Change => &SUPPLFWD,
        FileKind::Enrollment => &ENRLMT,
    }
}

/// Where the fields a rule reads sit in canonical order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RuleFields {
    pub account: usize,
    pub phone: usize,
    pub source: usize,
    pub phone_type: usize,
    pub status: usize,
    pub technology: usize,
    pub quality_score: usize,
    pub record_id: Option<usize>,
    pub consent_flag: Option<usize>,
    pub consent_date: Option<usize>,
    pub delete_flag: Option<usize>,
    pub event_date: Option<usize>,
}

pub(crate) fn rule_fields(kind: FileKind) -> RuleFields {
    match kind {
        FileKind::Snapshot | FileKind::Change => RuleFields {
            account: 1,
            phone: 6,
            phone_type: 7,
            status: 8,
            source: 9,
            technology: 10,
            quality_score: 11,
            record_id: Some(0),
            consent_flag: Some(12),
            consent_date: Some(13),
            delete_flag: (kind == FileKind::Change).then_some(14),
            event_date: (kind == FileKind::Change).then_some(15),
        },
        FileKind::Enrollment => RuleFields {
            account: 0,
            phone: 6,
            phone_type: 7,
            technology: 8,
            status: 9,
            source: 10,
            quality_score: 11,
            record_id: None,
            consent_flag: None,
            consent_date: None,
            delete_flag: None,
            event_date: Some(12),
        },
    }
}

/// A file's header matched against its kind's contract.
#[derive(Clone, Debug)]
pub struct HeaderMap {
    /// For each canonical column, the index of its field in the file's rows.
    pub positions: Vec<Option<usize>>,
    /// The number of fields of the header (every row must have as many).
    pub width: usize,
    /// Optional contract columns the file lacks (a warning).
    pub missing_optional: Vec<&'static str>,
    /// Header names the contract does not know (a warning).
    pub unknown: Vec<String>,
}

/// Matches a header line against a kind's contract; `Err` lists the required columns missing.
pub fn match_header(kind: FileKind, header: &str) -> Result<HeaderMap, Vec<&'static str>> {
    let names: Vec<String> = header
        .split('|')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let contract = columns(kind);
    let mut positions = Vec::with_capacity(contract.len());
    let mut missing = Vec::new();
    let mut missing_optional = Vec::new();
    for c in contract {
        let pos = names
            .iter()
            .position(|n| n == c.name || c.aliases.contains(&n.as_str()));
        if pos.is_none() {
            if c.required {
                missing.push(c.name);
            } else {
                missing_optional.push(c.name);
            }
        }
        positions.push(pos);
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    let unknown = names
        .iter()
        .enumerate()
        .filter(|(i, _)| !positions.contains(&Some(*i)))
        .map(|(_, n)| n.clone())
        .collect();
    Ok(HeaderMap {
        positions,
        width: names.len(),
        missing_optional,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_match_by_name_in_any_order_and_case() {
        let h = match_header(
            FileKind::Enrollment,
            " PHONE_NUMBER |account_number|phone_source|enrollment_date|extra",
        )
        .unwrap();
        assert_eq!(h.positions[0], Some(1));
        assert_eq!(h.positions[6], Some(0));
        assert_eq!(h.width, 5);
        assert_eq!(h.unknown, vec!["extra".to_string()]);
        assert!(h.missing_optional.contains(&"ssn"));
    }

    #[test]
    fn supplfwd_accepts_either_record_id_name() {
        let mut header: Vec<&str> = SUPPLFWD.iter().map(|c| c.name).collect();
        header[0] = "cnsmr_phn_id";
        let h = match_header(FileKind::Change, &header.join("|")).unwrap();
        assert_eq!(h.positions[0], Some(0));
        assert!(h.unknown.is_empty() && h.missing_optional.is_empty());
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let header: Vec<&str> = NONFIN
            .iter()
            .map(|c| c.name)
            .filter(|n| *n != "cnsmr_phn_cnsnt_dt")
            .collect();
        assert_eq!(
            match_header(FileKind::Snapshot, &header.join("|")).unwrap_err(),
            vec!["cnsmr_phn_cnsnt_dt"]
        );
    }

    #[test]
    fn rule_fields_point_at_the_right_columns() {
        for kind in [FileKind::Snapshot, FileKind::Change, FileKind::Enrollment] {
            let f = rule_fields(kind);
            let cols = columns(kind);
            assert!(cols[f.account].required && cols[f.phone].required && cols[f.source].required);
            assert!(cols[f.source].name.contains("src") || cols[f.source].name == "phone_source");
            assert!(cols[f.status].name.contains("stts") || cols[f.status].name == "phone_status");
            assert!(
                cols[f.technology].name.contains("tchnlgy")
                    || cols[f.technology].name == "phone_technology"
            );
            if let Some(e) = f.event_date {
                assert!(cols[e].required && cols[e].name.ends_with("date"));
            }
        }
    }
}
