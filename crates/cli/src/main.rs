//! `phone-consent`: the command line. Argument parsing and progress; the work is in the
//! library crates.

mod check;
mod demo;
mod history;
mod output;
mod progress;
mod report;
mod run;
mod serve;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use phone_consent_core::Date;

/// Decides whether a collections agency may text a phone on an account — from the bank's
/// feed, through a Delta lake, with the evidence behind every answer.
#[derive(Parser)]
#[command(name = "phone-consent", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply a feed's new files to the lake: bronze, silver and gold. Files the lake's
    /// ingest ledger already has are skipped unread; a known name with other content is
    /// refused (conflicting_redelivery) unless replaced with --replace.
    #[command(
        after_help = "Examples:\n  phone-consent run ./feed --lake ./lake\n  phone-consent run s3://raw-bucket/feed --lake s3://lake-bucket/lake   # PHONE_CONSENT_PII_KEY and AWS_* set\n  phone-consent run ./feed --replace IC_A2RGMRHG_DMENRL_DataManager-20190101000000863-ENRLMT-EXPORT_000.csv.gz\n  phone-consent run ./feed --rebuild"
    )]
    Run {
        /// The feed's data root (holds ENROLLMENT/ and MAINTENANCE/): a folder, or
        /// s3://bucket/prefix (only files the ledger lacks are fetched).
        data_dir: PathBuf,
        #[command(flatten)]
        lake: LakeArg,
        /// Worker threads (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        /// Apply this file (a name under the data root) again, in place of the delivery the
        /// ledger has. Repeatable.
        #[arg(long, value_name = "NAME")]
        replace: Vec<String>,
        /// Re-derive silver and gold from bronze, even when no file is new.
        #[arg(long)]
        rebuild: bool,
        /// Print the closing summary as JSON on standard output.
        #[arg(long)]
        json: bool,
        /// The data-quality checks' severities and thresholds (TOML; default: quality.toml
        /// at the lake's root if there is one, else the built-in defaults — see
        /// `report --default-config`).
        #[arg(long, value_name = "FILE")]
        quality_config: Option<PathBuf>,
        /// Exit with code 2 when a data-quality check fires at this level (the run still
        /// completes and is recorded).
        #[arg(long, value_enum, default_value_t = run::FailOn::Never)]
        fail_on: run::FailOn,
    },
    /// May this phone be texted on this account? The decision, its reason and evidence.
    #[command(
        after_help = "Examples:\n  phone-consent check 1000000000000001 '(212) 555-0101'\n  phone-consent check 1000000000000001 2125550101 --as-of 2024-02-10 --explain\n  phone-consent check 1000000000000001 +12125550101 --json\n  phone-consent check 1000000000000001 2125550101 --gold-version 3"
    )]
    Check {
        /// The account number (digits).
        account: String,
        /// The phone, in any common US format.
        phone: String,
        /// Answer as the agency could have known on this date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date)]
        as_of: Option<Date>,
        /// List the events behind the answer.
        #[arg(long)]
        explain: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Deny with `stale_data` when the newest snapshot is older than this many days.
        #[arg(long)]
        max_snapshot_age: Option<u32>,
        /// Answer as gold version N said (see the `runs` table), not from the audit trail.
        #[arg(long, value_name = "N", conflicts_with_all = ["as_of", "max_snapshot_age"])]
        gold_version: Option<i64>,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// A phone's timeline on an account: every event, with the state and decision after it.
    #[command(
        after_help = "Examples:\n  phone-consent history 1000000000000001 '(212) 555-0101'\n  phone-consent history 1000000000000001 2125550101 --as-of 2024-02-10 --json"
    )]
    History {
        /// The account number (digits).
        account: String,
        /// The phone, in any common US format.
        phone: String,
        /// Only what the agency could have known on this date (YYYY-MM-DD).
        #[arg(long, value_parser = parse_date)]
        as_of: Option<Date>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// A run's data-quality checks and feed coverage, as text, JSON or one self-contained
    /// HTML page with charts (rows per file, rejects, phones each snapshot dropped).
    #[command(
        after_help = "Examples:\n  phone-consent report\n  phone-consent report --run 3 --format json\n  phone-consent report --format html > quality.html\n  phone-consent report --default-config > lake/quality.toml"
    )]
    Report {
        /// The run to report (default: the latest); see the `runs` table.
        #[arg(long, value_name = "ID")]
        run: Option<i64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = report::Format::Text)]
        format: report::Format,
        /// Print the checks' default severities and thresholds (a config file to edit).
        #[arg(long, conflicts_with = "run")]
        default_config: bool,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// Run SQL (DataFusion) over the lake's tables, registered by name.
    #[command(
        after_help = "Tables: enrollment, nonfin, supplfwd, rejects, phone_events, phone_state, snapshots, phone_consent, ingest_ledger, runs, quality_checks.\n\nExamples:\n  phone-consent sql \"SELECT delete_type, count(*) FROM phone_consent GROUP BY 1\"\n  phone-consent sql \"$(cat sql/can_send_sms.sql)\" --format csv"
    )]
    Sql {
        /// The query (it may start with a `--` comment).
        #[arg(allow_hyphen_values = true)]
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = output::Format::Table)]
        format: output::Format,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// Print gold `phone_consent`, now or as of a past date (folded from the audit trail).
    #[command(after_help = "Example:\n  phone-consent gold --as-of 2024-02-10 --format csv")]
    Gold {
        /// The date to answer for (YYYY-MM-DD); default: every file.
        #[arg(long, value_parser = parse_date)]
        as_of: Option<Date>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = output::Format::Csv)]
        format: output::Format,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// Write a feed in the client's exact format, with its ground truth (truth.csv).
    #[command(
        after_help = "Example:\n  phone-consent generate --out ./feed --accounts 143000 --seed 1"
    )]
    Generate {
        /// The folder to write (ENROLLMENT/, MAINTENANCE/, truth.csv).
        #[arg(long)]
        out: PathBuf,
        /// Accounts to generate (143,000 ≈ 1 GB gzipped).
        #[arg(long)]
        accounts: u64,
        /// Random seed: the same seed writes the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Serve the HTTP API: can_send_sms single and batch, a phone's timeline, health,
    /// Prometheus metrics and /openapi.json. Swaps in each newer gold version without a
    /// restart. Every /v1 route needs a bearer API key.
    #[command(
        after_help = "Examples:\n  phone-consent serve --lake ./lake --api-keys-file keys.txt\n  PHONE_CONSENT_API_KEYS=key1,key2 phone-consent serve --addr 0.0.0.0:8080\n  curl -H \"Authorization: Bearer $KEY\" 'http://127.0.0.1:8080/v1/can-send-sms?account=1001&phone=2125550101'"
    )]
    Serve {
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// API keys, one per line (blank lines and # comments ignored); or set
        /// PHONE_CONSENT_API_KEYS (comma-separated).
        #[arg(long, value_name = "PATH")]
        api_keys_file: Option<PathBuf>,
        /// Serve without authentication (refused unless said explicitly).
        #[arg(long)]
        insecure_no_auth: bool,
        /// Deny with stale_data when the newest snapshot is more than DAYS old.
        #[arg(long, value_name = "DAYS")]
        max_snapshot_age: Option<u32>,
        /// /v1 requests answered at once; more get 503 with Retry-After.
        #[arg(long, default_value_t = 1024)]
        max_in_flight: usize,
        /// The largest batch request body, in MiB.
        #[arg(long, default_value_t = 64)]
        max_batch_mib: usize,
        /// The longest a request may take, in seconds (then 503).
        #[arg(long, default_value_t = 30)]
        request_timeout: u64,
        /// How often to look for a newer gold version, in seconds.
        #[arg(long, default_value_t = 2)]
        poll: u64,
        /// Threads answering requests (default: every core).
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        lake: LakeArg,
    },
    /// Generate a small feed, run the pipeline on it and explain a few checks.
    #[command(after_help = "Example:\n  phone-consent demo")]
    Demo {
        /// Where to write the demo feed.
        #[arg(long, default_value = "demo-feed")]
        feed: PathBuf,
        #[command(flatten)]
        lake: LakeArg,
    },
}

#[derive(clap::Args)]
struct LakeArg {
    /// The lake root: a folder, or s3://bucket/prefix (credentials, region and endpoint
    /// from the AWS environment: AWS_REGION, AWS_ENDPOINT_URL, the task role, ...).
    #[arg(long = "lake", default_value = "lake")]
    path: PathBuf,
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s).ok_or_else(|| format!("{s:?} is not a date: expected YYYY-MM-DD"))
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PHONE_CONSENT_LOG")
                .unwrap_or_else(|_| "warn,phone_consent=info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    match dispatch(Cli::parse()) {
        Ok(Outcome::Done) => std::process::ExitCode::SUCCESS,
        Ok(Outcome::ChecksFired) => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// How a command that did its work ends.
enum Outcome {
    /// Exit code 0.
    Done,
    /// A run completed but a data-quality check fired at the `--fail-on` level: exit code 2.
    ChecksFired,
}

fn dispatch(cli: Cli) -> Result<Outcome> {
    let done = |r: Result<()>| r.map(|()| Outcome::Done);
    match cli.command {
        Command::Run {
            data_dir,
            lake,
            threads,
            replace,
            rebuild,
            json,
            quality_config,
            fail_on,
        } => {
            let how = run::How {
                threads,
                replace,
                rebuild,
                json,
                quality_config,
            };
            let summary = runtime()?.block_on(run::run(&data_dir, &lake.path, how))?;
            let failures = fail_on.failures(&summary.quality);
            if failures.is_empty() {
                return Ok(Outcome::Done);
            }
            let names: Vec<&str> = failures.iter().map(|f| f.check.as_str()).collect();
            eprintln!(
                "run {} completed, but data-quality checks fired (--fail-on {}): {}",
                summary.run_id,
                format!("{fail_on:?}").to_lowercase(),
                names.join(", ")
            );
            Ok(Outcome::ChecksFired)
        }
        Command::Check {
            account,
            phone,
            as_of,
            explain,
            json,
            max_snapshot_age,
            gold_version,
            lake,
        } => done(runtime()?.block_on(check::check(
            &lake.path,
            &account,
            &phone,
            check::CheckOptions {
                as_of,
                explain,
                json,
                max_snapshot_age,
                gold_version,
            },
        ))),
        Command::History {
            account,
            phone,
            as_of,
            json,
            lake,
        } => done(runtime()?.block_on(history::history(&lake.path, &account, &phone, as_of, json))),
        Command::Report {
            default_config: true,
            ..
        } => {
            print!("{}", phone_consent_lake::quality::DEFAULTS);
            Ok(Outcome::Done)
        }
        Command::Report {
            run, format, lake, ..
        } => done(runtime()?.block_on(report::report(&lake.path, run, format))),
        Command::Sql {
            query,
            format,
            lake,
        } => done(runtime()?.block_on(async {
            require_lake(&lake.path)?;
            let batches = phone_consent_lake::delta::sql(&lake.path, &query)
                .await
                .context("running the query")?;
            output::print(&batches, format)
        })),
        Command::Gold {
            as_of,
            format,
            lake,
        } => done(runtime()?.block_on(async {
            require_lake(&lake.path)?;
            let batch = phone_consent_lake::gold_as_of(&lake.path, as_of).await?;
            output::print(&[batch], format)
        })),
        Command::Generate {
            out,
            accounts,
            seed,
        } => {
            let started = std::time::Instant::now();
            let s = phone_consent_feed::generate::generate(
                &out,
                &phone_consent_feed::generate::GenerateOptions { accounts, seed },
            )
            .with_context(|| format!("generating a feed in {}", out.display()))?;
            println!(
                "wrote {} files, {} rows, {:.1} MB gzipped, {} phones to {} in {:.1}s (truth: {})",
                s.files,
                s.rows,
                s.bytes as f64 / 1e6,
                s.phones,
                out.display(),
                started.elapsed().as_secs_f64(),
                out.join("truth.csv").display()
            );
            Ok(Outcome::Done)
        }
        Command::Serve {
            addr,
            api_keys_file,
            insecure_no_auth,
            max_snapshot_age,
            max_in_flight,
            max_batch_mib,
            request_timeout,
            poll,
            threads,
            lake,
        } => {
            let how = serve::How {
                addr,
                api_keys_file,
                insecure_no_auth,
                max_snapshot_age,
                max_in_flight,
                max_batch_bytes: max_batch_mib << 20,
                request_timeout: std::time::Duration::from_secs(request_timeout),
                poll: std::time::Duration::from_secs(poll.max(1)),
            };
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = threads {
                runtime.worker_threads(threads.max(1));
            }
            let runtime = runtime
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            done(runtime.block_on(serve::serve(lake.path, how)))
        }
        Command::Demo { feed, lake } => done(runtime()?.block_on(demo::demo(&feed, &lake.path))),
    }
}

/// Commands that read the lake say so clearly when there is none.
fn require_lake(lake: &std::path::Path) -> Result<()> {
    // A lake in an object store is looked for by the command itself, which names the table.
    if phone_consent_lake::store::remote_url(lake)?.is_some() {
        return Ok(());
    }
    if lake
        .join(phone_consent_lake::schema::PHONE_CONSENT)
        .join("_delta_log")
        .is_dir()
    {
        Ok(())
    } else {
        anyhow::bail!(
            "no lake at {}: run `phone-consent run DATA_DIR --lake {}` first",
            lake.display(),
            lake.display()
        )
    }
}
