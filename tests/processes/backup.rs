//! `aftercare backup` while a server takes writes, and `aftercare restore` of the copy.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::server::{ADMIN_EMAIL, PASSWORD, ScratchDb, Server, binary};

const WRITERS: usize = 3;

fn aftercare(database_url: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(binary())
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "error")
        .output()
        .expect("run aftercare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The customer names in a database file, read by SQLite itself (no server).
fn names_in(path: &Path) -> BTreeSet<String> {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
    }
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).expect("open the copy");
    diesel::sql_query("SELECT name FROM customers")
        .load::<Name>(&mut conn)
        .expect("read the copy")
        .into_iter()
        .map(|n| n.name)
        .collect()
}

/// Every write acknowledged before the backup began is in the copy, the copy passes
/// SQLite's integrity check, and the writers never noticed the backup (no error).
#[test]
fn a_backup_under_write_load_holds_every_acknowledged_write() {
    let db = ScratchDb::sqlite();
    db.create_admin();
    let database = db.url().strip_prefix("sqlite://").unwrap().to_owned();
    let server = Server::start(db.url(), &[]);
    let admin = server.client().login(ADMIN_EMAIL, PASSWORD);

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = admin.clone();
            let acknowledged = Arc::clone(&acknowledged);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("买家 {writer}-{n}");
                    let reply = client
                        .post(
                            "/api/v1/customers",
                            &json!({"name": name, "source": "online",
                                    "contacts": [{"kind": "phone", "value": format!("139{writer:02}{n:06}")}]}),
                        )
                        .expect("the server answers during the backup");
                    assert_eq!(reply.status, 201, "{:?}", reply.body);
                    acknowledged.lock().unwrap().push(name);
                    n += 1;
                }
            })
        })
        .collect();
    // Let the writers get going, then note what is acknowledged and back up at once.
    while acknowledged.lock().unwrap().len() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let (ok, said) = aftercare(db.url(), &["backup", "--to", copy.to_str().unwrap()]);
    assert!(ok, "{said}");
    assert!(said.contains("integrity check ok"), "{said}");
    let during = acknowledged.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().expect("a writer saw no error");
    }
    let in_copy = names_in(&copy);
    let missing: Vec<&String> = before.iter().filter(|n| !in_copy.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, missing: {missing:?}"
    );
    assert!(
        during > before.len(),
        "the writers kept writing while the backup ran ({} then {during})",
        before.len()
    );

    // The running server keeps its file: a restore refuses.
    let (ok, said) = aftercare(db.url(), &["restore", "--from", copy.to_str().unwrap()]);
    assert!(!ok && said.contains("a server is using"), "{said}");
    let total = names_in(Path::new(&database)).len();
    assert!(total >= during, "{total} < {during}");

    // Stopped, the file is replaced by the copy, and a server starts on it.
    server.kill();
    let (ok, said) = aftercare(db.url(), &["restore", "--from", copy.to_str().unwrap()]);
    assert!(ok, "{said}");
    assert_eq!(names_in(Path::new(&database)), in_copy);
    let restarted = Server::start(db.url(), &[]);
    let admin = restarted.client().login(ADMIN_EMAIL, PASSWORD);
    let listed = admin
        .get("/api/v1/customers?limit=1&with_total=true")
        .unwrap();
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    assert_eq!(listed.body["total"], in_copy.len(), "{:?}", listed.body);
}

/// PostgreSQL has pg_dump: the command says so instead of copying anything.
#[test]
fn backup_of_postgres_points_to_pg_dump() {
    let (ok, said) = aftercare(
        "postgres://postgres@127.0.0.1:5432/test",
        &["backup", "--to", "/tmp/never-written.db"],
    );
    assert!(!ok && said.contains("pg_dump"), "{said}");
    assert!(!Path::new("/tmp/never-written.db").exists());
}
