//! Backups of the embedded SQLite database, made and restored while the service is in use.
//!
//! A copy of the file made with `cp` while a server writes is not a backup: the WAL holds
//! the newest commits and a page copied mid-write is torn. `VACUUM INTO` writes a
//! consistent, compact snapshot of one read transaction (writers go on meanwhile, WAL mode),
//! which is then checked (`PRAGMA integrity_check`) before it is put in place, so a backup
//! that exists is one that opens. A restore must not pull the file from under a running
//! server: every server holds a shared lock on `<database>.lock` while it serves, and a
//! restore takes it exclusively or refuses.
//!
//! PostgreSQL has its own tools for this (`pg_dump`/`pg_restore`; see the README).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use diesel::migration::MigrationSource;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{RunQueryDsl, SqliteConnection, sql_query};

use crate::db::{DbTarget, SQLITE_MIGRATIONS};

/// Periodic backups of the SQLite file by the server itself (off unless `BACKUP_DIR` is set).
#[derive(Debug, Clone, clap::Args)]
pub struct BackupSettings {
    /// Directory for periodic backups of the SQLite database (unset: none are made).
    #[arg(long = "backup-dir", env = "BACKUP_DIR")]
    pub dir: Option<PathBuf>,
    /// Hours between periodic backups (the first one an interval after start-up).
    #[arg(long = "backup-interval-hours", env = "BACKUP_INTERVAL_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=8760))]
    pub interval_hours: u64,
    /// Periodic backups kept in BACKUP_DIR; older ones are deleted.
    #[arg(long = "backup-keep", env = "BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=10000))]
    pub keep: u64,
}

/// The names periodic backups get: sortable by time, and recognisable for pruning.
const PERIODIC_PREFIX: &str = "aftercare-";
const PERIODIC_SUFFIX: &str = ".db";

/// One periodic round: a new backup in `dir`, then the oldest beyond `keep` removed.
/// Returns the new copy and the names removed.
pub fn periodic_round(
    database: &Path,
    dir: &Path,
    keep: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Snapshot, Vec<PathBuf>), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let name = format!(
        "{PERIODIC_PREFIX}{}{PERIODIC_SUFFIX}",
        now.format("%Y%m%dT%H%M%SZ")
    );
    let snapshot = backup(database, &dir.join(name))?;
    let mut kept: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PERIODIC_PREFIX) && n.ends_with(PERIODIC_SUFFIX))
        })
        .collect();
    kept.sort();
    let surplus = kept
        .len()
        .saturating_sub(usize::try_from(keep).unwrap_or(usize::MAX));
    let removed: Vec<PathBuf> = kept.into_iter().take(surplus).collect();
    for old in &removed {
        std::fs::remove_file(old).map_err(|e| format!("cannot remove {}: {e}", old.display()))?;
    }
    Ok((snapshot, removed))
}

/// Starts the periodic backup thread when `BACKUP_DIR` is set and the database is SQLite.
pub fn spawn_periodic(
    database_url: &str,
    settings: &BackupSettings,
) -> Result<Option<std::thread::JoinHandle<()>>, String> {
    let Some(dir) = settings.dir.clone() else {
        return Ok(None);
    };
    let database = sqlite_file(database_url)
        .map_err(|_| "BACKUP_DIR applies to SQLite; back PostgreSQL up with pg_dump".to_owned())?;
    let interval = std::time::Duration::from_secs(settings.interval_hours * 3600);
    let keep = settings.keep;
    std::thread::Builder::new()
        .name("backups".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                match periodic_round(&database, &dir, keep, chrono::Utc::now()) {
                    Ok((copy, removed)) => tracing::info!(
                        path = %copy.path.display(),
                        bytes = copy.bytes,
                        removed = removed.len(),
                        "periodic backup written and checked"
                    ),
                    Err(error) => tracing::error!(%error, "periodic backup failed"),
                }
            }
        })
        .map(Some)
        .map_err(|e| format!("cannot start the backup thread: {e}"))
}

/// What a backup or a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub path: PathBuf,
    pub bytes: u64,
    /// The newest migration applied to it (e.g. `000011`).
    pub schema_version: String,
}

/// The SQLite file `DATABASE_URL` names, or why backups here are not this command's job.
pub fn sqlite_file(database_url: &str) -> Result<PathBuf, String> {
    match DbTarget::parse(database_url)? {
        DbTarget::Sqlite(path) => Ok(PathBuf::from(path)),
        DbTarget::Postgres(_) => Err(
            "backup and restore copy the embedded SQLite file; for PostgreSQL use pg_dump and \
             pg_restore (README, Operations)"
                .into(),
        ),
    }
}

/// Held by a serving process for as long as it serves: restores wait for none.
#[derive(Debug)]
pub struct ServingLock {
    _file: File,
}

fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock(database: &Path) -> Result<File, String> {
    let path = lock_path(database);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Taken by `serve` on SQLite: shared, so several servers may share a file, and refused
/// while a restore holds the file.
pub fn hold_while_serving(database: &Path) -> Result<ServingLock, String> {
    let file = open_lock(database)?;
    file.try_lock_shared().map_err(|_| {
        format!(
            "{} is being restored; start the server when the restore has finished",
            database.display()
        )
    })?;
    Ok(ServingLock { _file: file })
}

#[derive(QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    value: String,
}

fn text_rows(conn: &mut SqliteConnection, sql: &str) -> Result<Vec<String>, String> {
    sql_query(sql)
        .load::<TextRow>(conn)
        .map(|rows| rows.into_iter().map(|r| r.value).collect())
        .map_err(|e| format!("{sql}: {e}"))
}

fn open(path: &Path) -> Result<SqliteConnection, String> {
    let url = path
        .to_str()
        .ok_or_else(|| format!("{} is not a UTF-8 path", path.display()))?;
    let mut conn =
        SqliteConnection::establish(url).map_err(|e| format!("cannot open {url}: {e}"))?;
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 10000;")
        .map_err(|e| format!("cannot open {url}: {e}"))?;
    Ok(conn)
}

/// Checks that `path` is a whole SQLite database of this service: integrity check passes
/// and its schema is one this binary knows (not newer than its newest migration).
pub fn verify(path: &Path) -> Result<Snapshot, String> {
    if !path.is_file() {
        return Err(format!("{} does not exist", path.display()));
    }
    let mut conn = open(path)?;
    let verdict = text_rows(
        &mut conn,
        "SELECT integrity_check AS value FROM pragma_integrity_check()",
    )
    .map_err(|e| format!("{} is not a readable SQLite database ({e})", path.display()))?;
    if verdict != ["ok"] {
        return Err(format!(
            "{} fails SQLite's integrity check: {}",
            path.display(),
            verdict.join("; ")
        ));
    }
    let versions = text_rows(
        &mut conn,
        "SELECT version AS value FROM __diesel_schema_migrations ORDER BY version DESC LIMIT 1",
    )
    .map_err(|_| format!("{} is not an Aftercare database", path.display()))?;
    let schema_version = versions
        .into_iter()
        .next()
        .ok_or_else(|| format!("{} has no migrations applied", path.display()))?;
    let newest = newest_known_version()?;
    if schema_version.as_str() > newest.as_str() {
        return Err(format!(
            "{} has schema version {schema_version}, newer than this binary's {newest}: restore it with the release that made it",
            path.display()
        ));
    }
    let bytes = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    Ok(Snapshot {
        path: path.to_owned(),
        bytes,
        schema_version,
    })
}

/// The newest migration this binary carries, as diesel records versions.
pub fn newest_known_version() -> Result<String, String> {
    let migrations = MigrationSource::<diesel::sqlite::Sqlite>::migrations(&SQLITE_MIGRATIONS)
        .map_err(|e| format!("embedded migrations: {e}"))?;
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
        .ok_or_else(|| "no embedded migrations".into())
}

/// A sibling of `target` to write into before renaming over it (same directory, so the
/// rename is atomic).
fn sibling(target: &Path, tag: &str) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{tag}-{}", std::process::id()));
    target.with_file_name(name)
}

fn sync_dir(path: &Path) {
    // The rename is durable only once the directory entry is: best effort where
    // directories cannot be opened (they can on every Unix this runs on).
    if let Some(dir) = path.parent()
        && let Ok(dir) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        })
    {
        let _ = dir.sync_all();
    }
}

/// Writes a consistent copy of the database at `database` to `to` (which must not exist),
/// checks it, and returns what it holds. Safe while servers write: they go on meanwhile.
pub fn backup(database: &Path, to: &Path) -> Result<Snapshot, String> {
    if !database.is_file() {
        return Err(format!("no database at {}", database.display()));
    }
    if to.exists() {
        return Err(format!(
            "{} exists; backups never overwrite (choose a new name)",
            to.display()
        ));
    }
    let partial = sibling(to, "partial");
    let _ = std::fs::remove_file(&partial);
    let result = (|| -> Result<(), String> {
        let mut conn = open(database)?;
        let target = partial
            .to_str()
            .ok_or_else(|| format!("{} is not a UTF-8 path", partial.display()))?
            .replace('\'', "''");
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!("VACUUM INTO '{target}'"),
        )
        .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
        File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
        verify(&partial)?;
        // hard_link refuses an existing name, so a backup started meanwhile under the
        // same name is never overwritten.
        std::fs::hard_link(&partial, to)
            .map_err(|e| format!("cannot write {}: {e}", to.display()))?;
        sync_dir(to);
        Ok(())
    })();
    let _ = std::fs::remove_file(&partial);
    result?;
    let mut snapshot = verify(to)?;
    snapshot.path = to.to_owned();
    Ok(snapshot)
}

/// Replaces the database at `database` with the backup at `from`, after checking the
/// backup, while no server holds the file. Migrations newer than the backup run at the
/// next start.
pub fn restore(database: &Path, from: &Path) -> Result<Snapshot, String> {
    let snapshot = verify(from)?;
    let lock = open_lock(database)?;
    lock.try_lock().map_err(|_| {
        format!(
            "a server is using {}; stop every server on it before restoring",
            database.display()
        )
    })?;
    let incoming = sibling(database, "restoring");
    let result = (|| -> Result<(), String> {
        std::fs::copy(from, &incoming)
            .map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        File::open(&incoming)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", incoming.display()))?;
        // The old file's WAL and shared-memory index belong to the old file: left beside
        // the new one, SQLite would replay the old commits into it.
        for suffix in ["-wal", "-shm"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            match std::fs::remove_file(PathBuf::from(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove the old {suffix} file: {e}")),
            }
        }
        std::fs::rename(&incoming, database)
            .map_err(|e| format!("cannot replace {}: {e}", database.display()))?;
        sync_dir(database);
        Ok(())
    })();
    let _ = std::fs::remove_file(&incoming);
    drop(lock);
    result?;
    Ok(Snapshot {
        path: database.to_owned(),
        ..snapshot
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use std::time::Duration;

    fn database(dir: &Path) -> (PathBuf, Db) {
        let path = dir.join("shop.db");
        let db = Db::connect(
            &format!("sqlite://{}", path.display()),
            2,
            Duration::from_secs(5),
        )
        .expect("a database");
        (path, db)
    }

    fn users(path: &Path) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = open(path).unwrap();
        sql_query("SELECT COUNT(*) AS n FROM users")
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    }

    fn add_user(path: &Path, email: &str) {
        let mut conn = open(path).unwrap();
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            &format!(
                "INSERT INTO users (shop_id, email, display_name, role, password_hash, active, created_at, updated_at)
                 VALUES (1, '{email}', 'x', 'agent', 'x', 1, '2026-11-23 10:00:00', '2026-11-23 10:00:00')"
            ),
        )
        .unwrap();
    }

    #[test]
    fn a_backup_holds_every_commit_and_a_restore_brings_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let (path, db) = database(dir.path());
        add_user(&path, "a@shop.example");
        let copy = dir.path().join("backup.db");
        let snapshot = backup(&path, &copy).expect("a backup");
        assert_eq!(snapshot.schema_version, newest_known_version().unwrap());
        assert!(snapshot.bytes > 0);
        assert_eq!(users(&copy), 1);
        // Never over an existing file.
        assert!(backup(&path, &copy).unwrap_err().contains("exists"));

        add_user(&path, "b@shop.example");
        assert_eq!(users(&path), 2);
        // A server holds the file: the restore refuses and changes nothing.
        let serving = hold_while_serving(&path).unwrap();
        assert!(
            restore(&path, &copy)
                .unwrap_err()
                .contains("a server is using")
        );
        assert_eq!(users(&path), 2);
        drop(serving);
        drop(db);
        restore(&path, &copy).expect("a restore");
        assert_eq!(users(&path), 1);
        assert_eq!(
            verify(&path).unwrap().schema_version,
            snapshot.schema_version
        );
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _db) = database(dir.path());
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"not a database at all, just bytes").unwrap();
        assert!(verify(&garbage).is_err());
        assert!(restore(&path, &garbage).is_err());
        let foreign = dir.path().join("foreign.db");
        let mut conn = open(&foreign).unwrap();
        diesel::connection::SimpleConnection::batch_execute(&mut conn, "CREATE TABLE t (x)")
            .unwrap();
        assert!(
            verify(&foreign)
                .unwrap_err()
                .contains("not an Aftercare database")
        );
        assert!(verify(&dir.path().join("missing.db")).is_err());
    }

    #[test]
    fn periodic_backups_keep_the_newest_copies() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _db) = database(dir.path());
        let backups = dir.path().join("backups");
        let start = chrono::DateTime::parse_from_rfc3339("2026-11-23T03:00:00Z")
            .unwrap()
            .to_utc();
        std::fs::create_dir_all(&backups).unwrap();
        std::fs::write(backups.join("notes.txt"), "not a backup").unwrap();
        for day in 0..4 {
            let (copy, removed) =
                periodic_round(&path, &backups, 2, start + chrono::Duration::days(day)).unwrap();
            assert_eq!(
                verify(&copy.path).unwrap().schema_version,
                copy.schema_version
            );
            assert_eq!(removed.len(), usize::from(day >= 2), "day {day}");
        }
        let mut left: Vec<String> = std::fs::read_dir(&backups)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "aftercare-20261125T030000Z.db",
                "aftercare-20261126T030000Z.db",
                "notes.txt"
            ]
        );
    }

    #[test]
    fn postgres_urls_are_pointed_to_pg_dump() {
        assert!(
            sqlite_file("postgres://postgres@127.0.0.1/test")
                .unwrap_err()
                .contains("pg_dump")
        );
    }
}
