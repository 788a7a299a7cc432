//! The real `aftercare` binary as a child process on a free port, with a scratch database
//! and a small blocking HTTP client: for what needs whole processes (SIGKILL, several
//! replicas) and for the HTTP load benchmark. The API tests include it for `ScratchDb`.

#![allow(dead_code)] // each includer uses its own part

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "process-test-secret-process-test-secret";
pub const ADMIN_EMAIL: &str = "admin@aftercare.test";
pub const PASSWORD: &str = "correct horse battery";
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_aftercare")
}

/// A database of its own, removed on drop.
pub enum ScratchDb {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres {
        url: String,
        admin_url: String,
        name: String,
    },
}

impl ScratchDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path: PathBuf = dir.path().join("aftercare.db");
        ScratchDb::Sqlite {
            url: format!("sqlite://{}", path.display()),
            _dir: dir,
        }
    }

    /// A fresh database on the server named by `TEST_DATABASE_URL` (default: the local one);
    /// `None` (with a notice) if it is unreachable and `AFTERCARE_TEST_REQUIRE_POSTGRES` is unset.
    pub fn postgres(label: &str) -> Option<Self> {
        let admin_url =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let mut conn = match PgConnection::establish(&admin_url) {
            Ok(conn) => conn,
            Err(e) if std::env::var("AFTERCARE_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") => {
                panic!("PostgreSQL required but unreachable at {admin_url}: {e}")
            }
            Err(e) => {
                eprintln!("skipping PostgreSQL test {label}: {e}");
                return None;
            }
        };
        let name = format!(
            "aftercare_{label}_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .expect("create the scratch database");
        let without_options = admin_url.split('?').next().unwrap_or(&admin_url);
        let (base, _) = without_options
            .rsplit_once('/')
            .expect("the database URL has a path");
        Some(ScratchDb::Postgres {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        })
    }

    pub fn url(&self) -> &str {
        match self {
            ScratchDb::Sqlite { url, .. } | ScratchDb::Postgres { url, .. } => url,
        }
    }

    /// Runs `aftercare create-admin` (which also applies the migrations).
    pub fn create_admin(&self) {
        let mut child = Command::new(binary())
            .args(["create-admin", "--email", ADMIN_EMAIL, "--password-stdin"])
            .env("DATABASE_URL", self.url())
            .env("RUST_LOG", "error")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run aftercare create-admin");
        writeln!(child.stdin.take().expect("stdin"), "{PASSWORD}").expect("write the password");
        assert!(child.wait().expect("create-admin exits").success());
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let ScratchDb::Postgres {
            admin_url, name, ..
        } = self
            && let Ok(mut conn) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One running server process; killed (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
}

impl Server {
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "error")
            .stdout(Stdio::null());
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start aftercare serve");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let client = Client::new(&self.base);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if matches!(client.get("/readyz"), Ok(reply) if reply.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server at {} did not become ready", self.base);
    }

    pub fn client(&self) -> Client {
        Client::new(&self.base)
    }

    /// The process id, to read its memory figures in `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown hook, no flush, requests in flight cut off.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub retry_after: Option<String>,
    pub body: Value,
}

/// A keep-alive HTTP client for one base URL, optionally carrying a bearer token.
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Option<String>,
}

#[derive(Clone, Copy, Debug)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: base.to_owned(),
            token: None,
        }
    }

    /// The same connection pool, authenticated as `token`.
    pub fn with_token(&self, token: &str) -> Self {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    /// Logs in; panics unless it succeeds.
    pub fn login(&self, email: &str, password: &str) -> Self {
        let reply = self
            .send(
                Method::Post,
                "/api/v1/auth/login",
                Some(&json!({"email": email, "password": password})),
                None,
            )
            .expect("login request");
        assert_eq!(reply.status, 200, "login as {email}: {:?}", reply.body);
        let token = reply.body["access_token"].as_str().expect("a token");
        self.with_token(token)
    }

    /// Every item of a paged list, following `next_cursor` to the last page.
    pub fn all_pages(&self, path: &str) -> Vec<Value> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page_path = match &cursor {
                Some(c) => format!("{path}{separator}cursor={c}"),
                None => path.to_owned(),
            };
            let reply = self.get(&page_path).expect("list");
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            items.extend(reply.body["items"].as_array().cloned().unwrap_or_default());
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }

    pub fn get(&self, path: &str) -> Result<Reply, ureq::Error> {
        self.send(Method::Get, path, None, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Reply, ureq::Error> {
        self.send(Method::Post, path, Some(body), None)
    }

    pub fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply, ureq::Error> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let response = match method {
            Method::Get => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                request.call()
            }
            Method::Post | Method::Put | Method::Patch => {
                let mut request = match method {
                    Method::Post => self.agent.post(&url),
                    Method::Put => self.agent.put(&url),
                    _ => self.agent.patch(&url),
                };
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                if let Some(etag) = if_match {
                    request = request.header("if-match", etag);
                }
                request.send_json(body.cloned().unwrap_or(json!({})))
            }
        };
        Self::reply(response?)
    }

    /// POSTs a CSV file as it is, waiting up to ten minutes (a large import in a debug build).
    pub fn post_csv(&self, path: &str, csv: &[u8]) -> Result<Reply, ureq::Error> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .config()
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .header("content-type", "text/csv");
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        Self::reply(request.send(csv)?)
    }

    /// POSTs a body as it is, with its content type (a form upload), waiting up to ten minutes.
    pub fn post_bytes(
        &self,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Reply, ureq::Error> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .config()
            .timeout_global(Some(Duration::from_secs(600)))
            .build()
            .header("content-type", content_type);
        if let Some(token) = &self.token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        Self::reply(request.send(body)?)
    }

    fn reply(mut response: ureq::http::Response<ureq::Body>) -> Result<Reply, ureq::Error> {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let etag = header("etag");
        let retry_after = header("retry-after");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            etag,
            retry_after,
            body,
        })
    }
}
