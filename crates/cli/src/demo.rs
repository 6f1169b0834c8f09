//! `phone-consent demo`: a small generated feed, the pipeline, and a few explained checks.

use std::path::Path;

use anyhow::{Context, Result};
use phone_consent_feed::generate::{GenerateOptions, generate};

use crate::check::{CheckOptions, check};

/// Generates a feed, runs the pipeline, and explains one check per reason.
pub async fn demo(feed: &Path, lake: &Path) -> Result<()> {
    println!(
        "== generating a small feed in {} (400 accounts, seed 7)",
        feed.display()
    );
    let g = generate(
        feed,
        &GenerateOptions {
            accounts: 400,
            seed: 7,
        },
    )
    .context("generating the demo feed")?;
    println!("{} files, {} rows\n", g.files, g.rows);
    println!(
        "== phone-consent run {} --lake {}",
        feed.display(),
        lake.display()
    );
    crate::run::run(feed, lake, crate::run::How::default()).await?;
    for reason in [
        "allowed_explicit_consent",
        "allowed_implicit_consent",
        "consent_withdrawn",
        "not_client_sourced",
        "deleted",
    ] {
        let query = format!(
            "SELECT account_number, phone_number FROM phone_state WHERE reason = '{reason}' \
             ORDER BY changes_after_delete DESC, account_number, phone_number LIMIT 1"
        );
        let rows = phone_consent_lake::delta::sql(lake, &query).await?;
        let Some(b) = rows.iter().find(|b| b.num_rows() > 0) else {
            continue;
        };
        let account = phone_consent_lake::history::column_strings(b, "account_number")?[0]
            .clone()
            .unwrap_or_default();
        let phone = phone_consent_lake::history::column_strings(b, "phone_number")?[0]
            .clone()
            .unwrap_or_default();
        println!(
            "\n== phone-consent check {account} {phone} --explain --lake {}",
            lake.display()
        );
        check(
            lake,
            &account,
            &phone,
            CheckOptions {
                as_of: None,
                explain: true,
                json: false,
                max_snapshot_age: None,
                gold_version: None,
            },
        )
        .await?;
    }
    println!(
        "\nNext: phone-consent sql \"SELECT reason, count(*) FROM phone_state GROUP BY 1\" --lake {}",
        lake.display()
    );
    Ok(())
}
