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
    fn postgres_urls_are_pointed_to_pg_dump() {
        assert!(
            sqlite_file("postgres://postgres@127.0.0.1/test")
                .unwrap_err()
                .contains("pg_dump")
        );
    }
}
