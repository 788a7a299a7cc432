//! `aftercare check-config`: every setting as the server would use it, where each value
//! came from, secrets masked, and whether the database answers, before anything starts.
//!
//! clap has already refused values out of range by the time this runs (the same parsers
//! as `serve`); what remains to check is what needs more than one value or the outside
//! world: the signing secret, the database connection and its migrations, backups.

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use diesel::Connection;
use diesel_migrations::MigrationHarness;

use crate::config::Settings;
use crate::db::{DbTarget, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

/// One setting as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub env: String,
    pub value: String,
    pub source: &'static str,
}

/// Settings whose values are never printed: by their names' last word, so that a new
/// secret setting is masked too (`PASSWORD_HASHING_WAIT_MS` is not one).
fn is_secret(env: &str) -> bool {
    ["_SECRET", "_TOKEN", "_PASSWORD", "_KEY"]
        .iter()
        .any(|suffix| env.ends_with(suffix))
}

/// A database URL without its password (`postgres://user:***@host/db`).
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Every setting that has an environment variable, in `--help` order.
pub fn lines(command: &Command, matches: &ArgMatches) -> Vec<Line> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_str()?.to_owned();
            let id = arg.get_id().as_str();
            let raw: Vec<String> = matches
                .get_raw(id)
                .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let value = match raw.join(",") {
                v if v.is_empty() => "(unset)".to_owned(),
                _ if is_secret(&env) => "*** (set)".to_owned(),
                v if env == "DATABASE_URL" => mask_url(&v),
                v => v,
            };
            let source = match matches.value_source(id) {
                Some(ValueSource::EnvVariable) => "environment",
                Some(ValueSource::CommandLine) => "command line",
                Some(ValueSource::DefaultValue) => "default",
                _ => "unset",
            };
            Some(Line { env, value, source })
        })
        .collect()
}

/// The checks that need more than clap: returns what was found, or every problem.
pub fn check(settings: &Settings) -> Result<Vec<String>, Vec<String>> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    match &settings.tokens.jwt_secret {
        None => found.push(
            "JWT_SECRET is unset: tokens are signed with a random secret and die with the process (set it in production)"
                .to_owned(),
        ),
        Some(_) => match settings.tokens.keys() {
            Ok(_) => found.push("JWT_SECRET is long enough".to_owned()),
            Err(e) => problems.push(e),
        },
    }
    match database(&settings.server.database_url) {
        Ok(said) => found.push(said),
        Err(e) => problems.push(e),
    }
    if settings.backups.dir.is_some()
        && let Err(e) = crate::backup::sqlite_file(&settings.server.database_url)
    {
        problems.push(format!("BACKUP_DIR: {e}"));
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    }
}

/// Connects once (no pool, nothing written) and counts the migrations a start would apply.
fn database(url: &str) -> Result<String, String> {
    let masked = mask_url(url);
    let pending = match DbTarget::parse(url)? {
        DbTarget::Postgres(url) => {
            let mut conn = diesel::PgConnection::establish(&url)
                .map_err(|e| format!("DATABASE_URL {masked}: cannot connect: {e}"))?;
            conn.pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(|e| format!("DATABASE_URL {masked}: {e}"))?
                .len()
        }
        DbTarget::Sqlite(path) => {
            if !std::path::Path::new(&path).exists() {
                return Ok(format!(
                    "DATABASE_URL {masked}: the file does not exist yet; the first start creates it"
                ));
            }
            let mut conn = diesel::SqliteConnection::establish(&path)
                .map_err(|e| format!("DATABASE_URL {masked}: cannot open: {e}"))?;
            conn.pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| format!("DATABASE_URL {masked}: {e}"))?
                .len()
        }
    };
    Ok(format!(
        "DATABASE_URL {masked}: connected; {pending} migration(s) would be applied at start"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, FromArgMatches};

    #[test]
    fn secrets_and_database_passwords_are_masked() {
        assert_eq!(
            mask_url("postgres://aftercare:hunter2@db:5432/shop"),
            "postgres://aftercare:***@db:5432/shop"
        );
        assert_eq!(mask_url("sqlite://aftercare.db"), "sqlite://aftercare.db");
        let command = Settings::augment_args(Command::new("t"));
        let matches = command
            .clone()
            .mut_args(|arg| arg.env(None::<&str>))
            .try_get_matches_from([
                "t",
                "--jwt-secret",
                "0123456789abcdef0123456789abcdef-secret",
                "--database-url",
                "postgres://u:pw@127.0.0.1/db",
            ])
            .unwrap();
        let lines = lines(&command, &matches);
        let printed = format!("{lines:?}");
        assert!(!printed.contains("0123456789abcdef"), "{printed}");
        assert!(!printed.contains(":pw@"), "{printed}");
        let secret = lines.iter().find(|l| l.env == "JWT_SECRET").unwrap();
        assert_eq!(secret.value, "*** (set)");
        assert_eq!(secret.source, "command line");
        let hashers = lines
            .iter()
            .find(|l| l.env == "PASSWORD_HASHING_WAIT_MS")
            .unwrap();
        assert_eq!(hashers.value, "2000", "not a secret");
        let metrics = lines.iter().find(|l| l.env == "METRICS_TOKEN").unwrap();
        assert_eq!(metrics.value, "(unset)");
        let ttl = lines.iter().find(|l| l.env == "JWT_TTL_MINUTES").unwrap();
        assert_eq!((ttl.value.as_str(), ttl.source), ("720", "default"));
        assert!(lines.len() > 30, "{}", lines.len());
        let settings = Settings::from_arg_matches(&matches).unwrap();
        let problems = check(&settings).unwrap_err();
        assert!(problems[0].contains("cannot connect"), "{problems:?}");
    }

    #[test]
    fn a_short_secret_is_a_problem() {
        let mut settings = Settings::with_database("sqlite:///nonexistent/dir/a.db");
        settings.tokens.jwt_secret = Some("short".into());
        let problems = check(&settings).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("JWT_SECRET")),
            "{problems:?}"
        );
    }
}
