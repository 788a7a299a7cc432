//! The `aftercare` command: serves the API (default) and runs administrative tasks.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use actix_web::{HttpServer, web};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use aftercare::auth::{password, roles::Role};
use aftercare::config::{LogFormat, Settings};
use aftercare::db::Db;
use aftercare::router::build_app;
use aftercare::state::AppState;
use aftercare::users::{CreateUserRequest, store as user_store};
use aftercare::webhooks::{self, worker::WorkerSettings};

#[derive(Parser)]
#[command(name = "aftercare", version, about = "After-sales ticket service")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (what runs without a subcommand).
    Serve,
    /// Create an admin account in the default shop.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Read the password from the first line of standard input
        /// (required: a password on the command line would land in shell history).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Recompute every customer's value tier (after a threshold change, or nightly as time passes).
    RecomputeTiers,
    /// Print the OpenAPI document (redirect into openapi/openapi.json to update it).
    Openapi,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent, checked copy of the SQLite database to FILE while servers run
    /// (PostgreSQL: use pg_dump).
    Backup {
        /// Where the copy goes; must not exist yet.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Replace the SQLite database with a backup, after checking it. Every server on the
    /// file must be stopped first.
    Restore {
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Check every setting and the database connection, and print the effective
    /// configuration (secrets masked) without starting anything.
    CheckConfig,
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only on a terminal: in a file, a pipe or a log collector they are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    let command = Cli::command();
    let matches = command.clone().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing(cli.settings.server.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.settings),
        Command::CreateAdmin {
            email,
            name,
            password_stdin,
        } => create_admin(&cli.settings, email, name, password_stdin),
        Command::Openapi => print_document(),
        Command::Migrate => Db::connect(
            &cli.settings.server.database_url,
            1,
            cli.settings.server.db_checkout_timeout(),
        )
        .map(|_| ()),
        Command::RecomputeTiers => recompute_tiers(&cli.settings),
        Command::CheckConfig => check_config(&command, &matches, &cli.settings),
        Command::Backup { to } => backup(&cli.settings, &to),
        Command::Restore { from } => restore(&cli.settings, &from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("aftercare: {message}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(
    command: &clap::Command,
    matches: &clap::ArgMatches,
    settings: &Settings,
) -> Result<(), String> {
    use aftercare::check_config::{check, lines};
    use std::fmt::Write as _;
    let mut report = String::new();
    for line in lines(command, matches) {
        let _ = writeln!(
            report,
            "{:<34} {:<40} ({})",
            line.env, line.value, line.source
        );
    }
    report.push('\n');
    let verdict = match check(settings) {
        Ok(found) => {
            for said in found {
                let _ = writeln!(report, "ok: {said}");
            }
            report.push_str("configuration ok\n");
            Ok(())
        }
        Err(problems) => {
            for problem in &problems {
                let _ = writeln!(report, "problem: {problem}");
            }
            Err(format!(
                "{} problem(s) in the configuration",
                problems.len()
            ))
        }
    };
    write_stdout(&report)?;
    verdict
}

fn backup(settings: &Settings, to: &std::path::Path) -> Result<(), String> {
    let database = aftercare::backup::sqlite_file(&settings.server.database_url)?;
    let copy = aftercare::backup::backup(&database, to)?;
    write_stdout(&format!(
        "backed up to {}: {} bytes, schema version {}, integrity check ok\n",
        copy.path.display(),
        copy.bytes,
        copy.schema_version
    ))
}

fn restore(settings: &Settings, from: &std::path::Path) -> Result<(), String> {
    let database = aftercare::backup::sqlite_file(&settings.server.database_url)?;
    let restored = aftercare::backup::restore(&database, from)?;
    write_stdout(&format!(
        "restored {} from {}: schema version {} (newer migrations run at the next start)\n",
        restored.path.display(),
        from.display(),
        restored.schema_version
    ))
}

fn print_document() -> Result<(), String> {
    write_stdout(&aftercare::openapi::document())
}

/// Writes a command's output to stdout. A reader that stops early (`aftercare openapi |
/// head`) is not an error: `print!` would panic on the broken pipe.
fn write_stdout(text: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

#[actix_web::main]
async fn serve(settings: Settings) -> Result<(), String> {
    let tokens = settings.tokens.keys()?;
    // Held until the server stops: a restore refuses to replace the file meanwhile.
    let _serving = match aftercare::db::DbTarget::parse(&settings.server.database_url)? {
        aftercare::db::DbTarget::Sqlite(path) => Some(aftercare::backup::hold_while_serving(
            std::path::Path::new(&path),
        )?),
        aftercare::db::DbTarget::Postgres(_) => None,
    };
    let db = Db::connect(
        &settings.server.database_url,
        settings.server.db_pool_size,
        settings.server.db_checkout_timeout(),
    )?;
    // Before the first request: rows written before the search index existed, or indexed
    // by older gram rules, become findable.
    let reindexed = db
        .write_blocking(aftercare::search::store::rebuild_if_stale)
        .map_err(|e| format!("cannot build the search index: {e}"))?;
    if reindexed > 0 {
        tracing::info!(reindexed, "search index rebuilt");
    }
    tracing::info!(backend = ?db.backend(), "database ready");
    let bind_addr = settings.server.bind_addr.clone();
    let workers = match settings.server.http_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let shutdown_timeout = settings.server.shutdown_timeout_secs;
    if settings.webhooks.worker {
        let worker = WorkerSettings::from_settings(&settings.webhooks);
        webhooks::worker::spawn(db.clone(), worker)
            .map_err(|e| format!("cannot start the webhook worker: {e}"))?;
        tracing::info!("webhook worker started");
    }
    aftercare::backup::spawn_periodic(&settings.server.database_url, &settings.backups)?;
    aftercare::housekeeping::spawn(db.clone(), settings.login_throttle, settings.retention)
        .map_err(|e| format!("cannot start the housekeeping thread: {e}"))?;
    // Breaches are recorded when they happen, not when someone looks.
    aftercare::sla::operations::spawn(
        db.clone(),
        aftercare::sla::store::SlaCache::new(settings.tickets.deadlines),
    )
    .map_err(|e| format!("cannot start the service-level sweep: {e}"))?;
    tracing::info!(
        hashers = settings.password_hashing.hashers(),
        "password hashing bounded"
    );
    let state = web::Data::new(AppState::new(db, tokens, settings));
    if let Some(problem) = state.attachments.problem() {
        return Err(format!("attachment storage: {problem}"));
    }
    tracing::info!(storage = %state.attachments.current, "attachment storage ready");
    let server = HttpServer::new(move || build_app(state.clone()))
        .workers(workers)
        // actix stops accepting on SIGTERM/SIGINT and lets requests in flight finish.
        .shutdown_timeout(shutdown_timeout)
        .bind(&bind_addr)
        .map_err(|e| format!("cannot listen on {bind_addr}: {e}"))?;
    tracing::info!(
        addr = %bind_addr,
        docs = %format!("http://{bind_addr}/docs/"),
        "serving the Aftercare API"
    );
    server.run().await.map_err(|e| e.to_string())
}

fn recompute_tiers(settings: &Settings) -> Result<(), String> {
    // The configured pool, so the batches run two at once as they do in the server.
    let db = Db::connect(
        &settings.server.database_url,
        settings.server.db_pool_size,
        settings.server.db_checkout_timeout(),
    )?;
    let report = aftercare::tiers::operations::recompute_all(
        &db,
        aftercare::ids::ShopId(1),
        &settings.tiers,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "recomputed {} customers in {} ms: {} changed (key tier from {} cents or {} orders in 12 months)",
        report.customers,
        report.elapsed_ms,
        report.changed,
        report.key_spend_cents,
        report.key_order_count
    );
    Ok(())
}

fn create_admin(
    settings: &Settings,
    email: String,
    name: String,
    password_stdin: bool,
) -> Result<(), String> {
    if !password_stdin {
        return Err("pass --password-stdin and write the password to standard input".into());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("Password (one line):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    let request = CreateUserRequest {
        email,
        display_name: name,
        role: Role::Admin,
        password,
    };
    aftercare::extract::validate(&request).map_err(|e| match e {
        aftercare::error::ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })?;
    let words = password::account_words(&request.email, &request.display_name);
    if let Some(reason) = password::policy_violation(&request.password, &words) {
        return Err(format!("password: {reason}"));
    }
    let db = Db::connect(
        &settings.server.database_url,
        1,
        settings.server.db_checkout_timeout(),
    )?;
    let hash = password::hash(&request.password).map_err(|e| e.to_string())?;
    let user = db
        .write_blocking(|conn| user_store::create(conn, aftercare::ids::ShopId(1), &request, &hash))
        .map_err(|e| e.to_string())?;
    println!("created admin {} (id {})", user.email, user.id);
    Ok(())
}
