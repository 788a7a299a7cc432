//! moto's S3-compatible server on 127.0.0.1, for the attachment storage's S3 path: installed
//! from PyPI into `target/moto-venv` (pinned, `clients/moto/install.sh`), started on a free
//! port and stopped when dropped. Where it cannot be had the test prints a notice and
//! passes, unless `AFTERCARE_TEST_REQUIRE_S3=1` (CI), which makes it fail instead.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    port: u16,
}

fn required() -> bool {
    std::env::var("AFTERCARE_TEST_REQUIRE_S3").is_ok_and(|v| v == "1")
}

fn unavailable(why: &str) -> Option<Moto> {
    assert!(
        !required(),
        "AFTERCARE_TEST_REQUIRE_S3=1 but moto's S3 server cannot be had: {why}"
    );
    eprintln!(
        "skipping the S3 attachment test: {why} (set AFTERCARE_TEST_REQUIRE_S3=1 to fail instead)"
    );
    None
}

fn server_path() -> Result<PathBuf, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let server = root.join("target/moto-venv/bin/moto_server");
    if server.exists() {
        return Ok(server);
    }
    let install = Command::new("bash")
        .arg(root.join("clients/moto/install.sh"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run clients/moto/install.sh: {e}"))?;
    if !install.success() || !server.exists() {
        return Err("clients/moto/install.sh could not install moto from PyPI".into());
    }
    Ok(server)
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let server = match server_path() {
            Ok(server) => server,
            Err(why) => return unavailable(&why),
        };
        let port = crate::server::free_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => return unavailable(&format!("cannot start {}: {e}", server.display())),
        };
        let moto = Moto { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if ureq::get(&format!("{}/", moto.endpoint())).call().is_ok() {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        unavailable("moto's server did not answer within 30 s")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes unsigned requests); returns its name.
    pub fn bucket(&self, name: &str) -> String {
        ureq::put(&format!("{}/{name}", self.endpoint()))
            .send_empty()
            .expect("create the bucket");
        name.to_owned()
    }

    /// The keys in a bucket.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        let listing = ureq::get(&format!("{}/{bucket}?list-type=2", self.endpoint()))
            .call()
            .expect("list the bucket")
            .body_mut()
            .read_to_string()
            .expect("a listing");
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|rest| rest.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
