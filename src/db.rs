//! Database access for both backends through one code path.
//!
//! [`DbConnection`] is a diesel `MultiConnection`: every query in the service is written
//! once against it. The backend is chosen by `DATABASE_URL`. Blocking diesel calls run
//! on actix's blocking pool ([`Db::read`], [`Db::write`]), never on the async workers.
//! [`Db::ready`] is the readiness check: the database takes writes.

use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use actix_web::web;
use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::ApiError;
use crate::schema::readiness_heartbeat;

pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Key of the PostgreSQL advisory lock that serialises migrations of replicas starting together.
const MIGRATION_LOCK_KEY: i64 = 0x4166_7465_7263_6172; // "Aftercar"

/// Declares a vocabulary enum stored in a TEXT column: its wire name, written once per
/// variant, is what serde and the OpenAPI document show and what the database holds. Row
/// structs then carry the enum itself, never a string, on both backends (the conversions
/// go through each backend's own `str`/`String` ones).
///
/// It derives `Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord` (declaration
/// order), `Serialize, Deserialize, ToSchema` and diesel's `AsExpression, FromSqlRow`, and
/// adds `ALL`, `as_str`, `parse` and `Display`. A stored value that is no variant fails
/// the query (a corrupt row), rather than turning into a default.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $text:tt
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The stored and wire name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(value: &str) -> Option<$name> {
                match value {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // For every backend, not only the `MultiBackend`: some statements (`= ANY`, insert
        // forms) are built by the connection's concrete backend.
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    DB,
                >>::from_sql(bytes)?;
                $name::parse(&text).ok_or_else(|| {
                    format!("{text:?} is not a {} value", stringify!($name)).into()
                })
            }
        }
    };
}
pub(crate) use text_enum;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl DbConnection {
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Pg(_) => Backend::Postgres,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Where `DATABASE_URL` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTarget {
    Postgres(String),
    /// A file path; SQLite creates it on first connection.
    Sqlite(String),
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbTarget::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| {
                format!("DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got {url:?})")
            })?;
        if path.is_empty() || path.starts_with(":memory:") {
            // Each pooled connection would see its own empty in-memory database.
            return Err("DATABASE_URL must name a SQLite file, not an in-memory database".into());
        }
        Ok(DbTarget::Sqlite(path.to_owned()))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DbTarget::Postgres(_) => Backend::Postgres,
            DbTarget::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// r2d2 manager that opens the right variant and sets its per-connection settings.
#[derive(Debug)]
pub struct ConnectionManager {
    target: DbTarget,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.target {
            DbTarget::Postgres(url) => {
                let mut conn =
                    PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                // No JIT: the reports' costs are estimated past its thresholds (a
                // sub-select per order), and compiling them took 0.5 s of a 0.7 s sales
                // report over 30 days; without it every report in the data-layer
                // benchmark ran faster (BENCHMARKS.md).
                conn.batch_execute("SET jit = off")
                    .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Pg(conn))
            }
            DbTarget::Sqlite(path) => {
                let mut conn =
                    SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers work while one writer commits; busy_timeout covers
                // writers from other processes; foreign keys are off by default in SQLite.
                // busy_timeout first: switching a new file to WAL needs a moment of
                // exclusive access while the pool opens its other connections.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000;
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type DbPool = Pool<ConnectionManager>;

/// How long a readiness verdict is reused: a burst of probes (several load balancers,
/// each probing every replica) costs one check a second.
const READINESS_REUSE: Duration = Duration::from_secs(1);

/// Shared handle to the database: a pool plus the rules for running work on it.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    /// SQLite admits one writer at a time; taking turns here, rather than inside SQLite,
    /// avoids SQLITE_BUSY when two deferred transactions both try to upgrade to writing.
    sqlite_writer: Arc<Mutex<()>>,
    /// The longest wait for a connection; bounds a readiness check too.
    checkout_timeout: Duration,
    /// The last readiness verdict. An async lock, so that probes arriving during a check
    /// wait for its verdict instead of starting checks of their own.
    readiness: Arc<futures_util::lock::Mutex<Option<Verdict>>>,
}

/// A readiness verdict (the cause when not ready) and when it was reached.
type Verdict = (Instant, Result<(), String>);

impl Db {
    /// Opens the pool and applies pending migrations. A request waits at most
    /// `checkout_timeout` for a connection before it fails with 503.
    pub fn connect(
        database_url: &str,
        pool_size: u32,
        checkout_timeout: Duration,
    ) -> Result<Db, String> {
        let target = DbTarget::parse(database_url)?;
        let backend = target.backend();
        // Migrations run on a connection of their own, closed before the pool opens any: a
        // migration may change a table's definition in a way SQLite's own connection does
        // not re-read (a CHECK widened in place), so no pooled connection may have seen the
        // schema before the migrations.
        {
            let manager = ConnectionManager {
                target: target.clone(),
            };
            let mut conn = r2d2::ManageConnection::connect(&manager)
                .map_err(|e| format!("cannot open database: {e}"))?;
            run_migrations(&mut conn)?;
        }
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(checkout_timeout)
            .build(ConnectionManager { target })
            .map_err(|e| format!("cannot open database: {e}"))?;
        let db = Db {
            pool,
            backend,
            sqlite_writer: Arc::new(Mutex::new(())),
            checkout_timeout,
            readiness: Arc::new(futures_util::lock::Mutex::new(None)),
        };
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Connections open and idle right now (for the metrics endpoint).
    pub fn pool_state(&self) -> r2d2::State {
        self.pool.state()
    }

    pub fn pool_size(&self) -> u32 {
        self.pool.max_size()
    }

    /// A pooled connection, with the wait recorded for the metrics endpoint.
    fn checkout(pool: &DbPool) -> Result<PooledConnection<ConnectionManager>, ApiError> {
        let started = Instant::now();
        let conn = pool.get();
        crate::metrics::record_checkout(started.elapsed().as_secs_f64(), conn.is_err());
        Ok(conn?)
    }

    /// A connection for synchronous callers (CLI commands, tests); handlers use `read`/`write`.
    pub fn conn(&self) -> Result<PooledConnection<ConnectionManager>, ApiError> {
        Ok(self.pool.get()?)
    }

    /// Runs read-only work on the blocking pool.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        crate::metrics::blocking_queue(1.0);
        web::block(move || {
            crate::metrics::blocking_queue(-1.0);
            let mut conn = Db::checkout(&pool)?;
            work(&mut conn)
        })
        .await?
    }

    /// Runs work in one transaction on the blocking pool: all of it commits, or none.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let db = self.clone();
        crate::metrics::blocking_queue(1.0);
        web::block(move || {
            crate::metrics::blocking_queue(-1.0);
            db.write_blocking(work)
        })
        .await?
    }

    /// The synchronous form of [`Db::write`], for CLI commands.
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
    {
        let _turn = match self.backend {
            Backend::Sqlite => Some(
                self.sqlite_writer
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
            ),
            Backend::Postgres => None,
        };
        let mut pooled = Db::checkout(&self.pool)?;
        transaction(&mut pooled, work)
    }

    /// Whether the database takes writes (`Err` carries the cause, for the log). The
    /// verdict is reused for [`READINESS_REUSE`], and a check that has no verdict within
    /// the checkout timeout counts as a failure.
    pub async fn ready(&self) -> Result<(), ApiError> {
        let mut last = self.readiness.lock().await;
        if let Some((reached, verdict)) = last.as_ref()
            && reached.elapsed() < READINESS_REUSE
        {
            return verdict.clone().map_err(ApiError::Unavailable);
        }
        let db = self.clone();
        let check = web::block(move || db.prove_writable());
        let verdict = match actix_web::rt::time::timeout(self.checkout_timeout, check).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(ApiError::Unavailable(cause) | ApiError::Internal(cause)))) => Err(cause),
            Ok(Ok(Err(other))) => Err(other.to_string()),
            Ok(Err(_cancelled)) => Err("the readiness check was cancelled".to_owned()),
            Err(_elapsed) => Err(format!(
                "no readiness verdict within {} ms",
                self.checkout_timeout.as_millis()
            )),
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict.map_err(ApiError::Unavailable)
    }

    /// Writes the heartbeat row and commits. Blocking.
    fn prove_writable(&self) -> Result<(), ApiError> {
        let _turn = match self.backend {
            // A write of this process holds the turn: the database took its write lock,
            // and whether it commits is reported to that write's caller. Queueing behind
            // a long import would only make a busy server look dead.
            Backend::Sqlite => match self.sqlite_writer.try_lock() {
                Ok(turn) => Some(turn),
                Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => return Ok(()),
            },
            Backend::Postgres => None,
        };
        let bound_ms = self.checkout_timeout.as_millis();
        let mut pooled = self.pool.get()?;
        transaction(&mut pooled, |conn| {
            if conn.backend() == Backend::Postgres {
                // Bounded on the server as well, so an abandoned check does not hold a
                // connection (or the heartbeat row) for long.
                conn.batch_execute(&format!(
                    "SET LOCAL statement_timeout = {bound_ms}; SET LOCAL lock_timeout = {bound_ms};"
                ))?;
            }
            let now = chrono::Utc::now().naive_utc();
            let updated = diesel::update(readiness_heartbeat::table.find(1))
                .set((
                    readiness_heartbeat::checks.eq(readiness_heartbeat::checks + 1),
                    readiness_heartbeat::checked_at.eq(now),
                ))
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(readiness_heartbeat::table)
                    .values((
                        readiness_heartbeat::id.eq(1),
                        readiness_heartbeat::checks.eq(1),
                        readiness_heartbeat::checked_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
    }
}

/// One transaction around `work`: it all commits, or none of it. SQLite's begins with
/// `BEGIN IMMEDIATE`, which takes the write lock first: with the default deferred `BEGIN`,
/// two processes on one file (replicas, or the webhook worker of another process) can
/// both read and then both try to upgrade to writing, and SQLite answers one of them
/// "database is locked" at once instead of waiting; taking the lock first lets
/// `busy_timeout` queue writers instead. Savepoints inside `work` nest as usual.
///
/// When `work` fails and the rollback fails too (the connection is gone), the answer is
/// `work`'s error, not the rollback's: that is what happened to the request.
fn transaction<T, F>(conn: &mut DbConnection, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    type Manager = <DbConnection as Connection>::TransactionManager;
    match conn {
        DbConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
        }
        DbConnection::Pg(_) => Manager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = Manager::rollback_transaction(conn) {
                tracing::error!(%rollback, "rollback failed");
            }
            Err(error)
        }
    }
}

/// A vocabulary's values as an SQL list, `('paid', 'partially_refunded')`, for hand-written
/// SQL: only enum names go in, never input, so the literal is safe and partial indexes
/// whose predicates spell the same list still match.
pub fn sql_list(values: impl IntoIterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = values.into_iter().map(|v| format!("'{v}'")).collect();
    format!("({})", quoted.join(", "))
}

/// Literals for set-based writes (`UPDATE ... FROM (VALUES ...)`, multi-row `INSERT`),
/// where binding a thousand rows' values one by one is not possible through diesel's typed
/// `sql_query`. Text is quoted by doubling single quotes (standard SQL, and PostgreSQL's
/// `standard_conforming_strings` default); a NUL, which PostgreSQL refuses in text and
/// which serde's JSON never emits, is dropped.
pub fn sql_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A timestamp literal as each backend stores it: SQLite in diesel's own text form (so it
/// compares with the bound ones), PostgreSQL as a typed `TIMESTAMP '...'`.
pub fn sql_timestamp(backend: Backend, at: NaiveDateTime) -> String {
    match backend {
        Backend::Postgres => format!("TIMESTAMP '{}'", at.format("%Y-%m-%d %H:%M:%S%.6f")),
        Backend::Sqlite => format!("'{}'", at.format("%F %T%.f")),
    }
}

/// A nullable text or timestamp literal: `NULL` or the value's.
pub fn sql_or_null<T>(value: Option<T>, literal: impl FnOnce(T) -> String) -> String {
    value.map(literal).unwrap_or_else(|| "NULL".to_owned())
}

/// `SUM(column)` over a BIGINT column as an expression that can never fail, clamped to
/// the BIGINT range: PostgreSQL sums BIGINT into NUMERIC, which is clamped before the cast
/// back (a plain cast raises "bigint out of range"); SQLite's SUM raises "integer
/// overflow", so its TOTAL (a float, exact below 2^53) is clamped instead. Stored rows
/// must never be able to make a later query fail; amounts are capped where they are
/// written, and sums over them use this.
pub fn clamped_sum(backend: Backend, column: &str) -> String {
    let (min, max) = (i64::MIN, i64::MAX);
    match backend {
        Backend::Postgres => {
            format!("CAST(GREATEST(LEAST(SUM({column}), {max}), {min}) AS BIGINT)")
        }
        Backend::Sqlite => format!("CAST(MAX(MIN(TOTAL({column}), {max}), {min}) AS BIGINT)"),
    }
}

/// Hand-written SQL is written with PostgreSQL's `$1` placeholders; SQLite reads `$1` as a
/// *named* parameter numbered by first appearance, so it gets the explicit `?1` form.
pub fn raw_sql(backend: Backend, sql: &str) -> String {
    match backend {
        Backend::Postgres => sql.to_owned(),
        Backend::Sqlite => {
            let mut out = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                    out.push('?');
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

fn run_migrations(conn: &mut DbConnection) -> Result<(), String> {
    let applied = match conn {
        DbConnection::Pg(pg) => {
            let lock = format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})");
            pg.batch_execute(&lock).map_err(|e| e.to_string())?;
            let result = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            let unlock = format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})");
            pg.batch_execute(&unlock).map_err(|e| e.to_string())?;
            result
        }
        DbConnection::Sqlite(sqlite) => sqlite
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| format!("migrations failed: {e}"))?;
    if applied > 0 {
        tracing::info!(applied, "database migrations applied");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_waited_for_as_long_as_configured() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        // Not a short value: building the pool waits this long for its first connection,
        // and a loaded machine may need more than a fraction of a second to open it.
        let db = Db::connect(&url, 1, Duration::from_millis(4321)).unwrap();
        assert_eq!(db.pool.connection_timeout(), Duration::from_millis(4321));
    }

    #[test]
    fn database_url_selects_backend() {
        assert_eq!(
            DbTarget::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DbTarget::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DbTarget::parse("sqlite://data/a.db").unwrap(),
            DbTarget::Sqlite("data/a.db".into())
        );
        assert_eq!(
            DbTarget::parse("sqlite:a.db").unwrap(),
            DbTarget::Sqlite("a.db".into())
        );
    }

    #[test]
    fn placeholders_are_numbered_for_sqlite() {
        let sql = "SELECT $2 WHERE a = $1 AND b = '$x'";
        assert_eq!(raw_sql(Backend::Postgres, sql), sql);
        assert_eq!(
            raw_sql(Backend::Sqlite, sql),
            "SELECT ?2 WHERE a = ?1 AND b = '$x'"
        );
    }

    /// What serde, the OpenAPI document and the database call each value must agree, and
    /// names must be snake_case (the `text_enum!` macro relies on it for utoipa).
    fn check_names<T: serde::Serialize + Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for &value in all {
            let text = as_str(value);
            assert_eq!(serde_json::to_value(value).unwrap(), text, "{value:?}");
            assert_eq!(parse(text), Some(value));
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{text} is not snake_case"
            );
        }
    }

    #[test]
    fn text_enum_names_are_snake_case() {
        use crate::tickets::*;
        check_names(&TicketKind::ALL, TicketKind::as_str, TicketKind::parse);
        check_names(&State::ALL, State::as_str, State::parse);
        check_names(&Outcome::ALL, Outcome::as_str, Outcome::parse);
        check_names(&CloseReason::ALL, CloseReason::as_str, CloseReason::parse);
        check_names(
            &ContactChannel::ALL,
            ContactChannel::as_str,
            ContactChannel::parse,
        );
        check_names(&Channel::ALL, Channel::as_str, Channel::parse);
        use crate::scripts::{Placeholder, Situation};
        check_names(&Situation::ALL, Situation::as_str, Situation::parse);
        check_names(&Placeholder::ALL, Placeholder::as_str, Placeholder::parse);
    }

    #[test]
    fn unusable_database_urls_are_refused() {
        assert!(DbTarget::parse("mysql://x").is_err());
        assert!(DbTarget::parse("a.db").is_err());
        assert!(DbTarget::parse("sqlite://").is_err());
        assert!(DbTarget::parse("sqlite://:memory:").is_err());
    }
}
