//! The command line as a shell script or a log collector uses it: pipes, not terminals.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::server::{ScratchDb, binary};

/// `aftercare openapi | head`: the reader goes away early; the command must neither panic
/// nor report a failure for it.
#[test]
fn openapi_into_a_closed_pipe_exits_cleanly() {
    let mut child = Command::new(binary())
        .arg("openapi")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aftercare openapi");
    let mut first = [0u8; 64];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the document's first bytes");
    // stdout is dropped here: the pipe is closed with most of the document unwritten.
    let output = child
        .wait_with_output()
        .expect("wait for aftercare openapi");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(String::from_utf8_lossy(&first).starts_with('{'));
}

/// Logs written to a pipe or a file carry no ANSI colour codes.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let db = ScratchDb::sqlite();
    let output = Command::new(binary())
        .arg("migrate")
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "text")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run aftercare migrate");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("database migrations applied"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
}

/// `aftercare check-config` shows each setting's value and source with secrets masked, and
/// fails on what would stop a start.
#[test]
fn check_config_masks_secrets_and_fails_on_problems() {
    let db = ScratchDb::sqlite();
    db.create_admin();
    let run = |env: &[(&str, &str)]| {
        let mut command = Command::new(binary());
        command
            .arg("check-config")
            .env("DATABASE_URL", db.url())
            .env("RUST_LOG", "error");
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().expect("run aftercare check-config");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let secret = "a-signing-secret-of-forty-bytes-at-least!";
    let (ok, said) = run(&[("JWT_SECRET", secret), ("HTTP_WORKERS", "3")]);
    assert!(ok, "{said}");
    assert!(!said.contains(secret), "{said}");
    assert!(said.contains("*** (set)"), "{said}");
    assert!(
        said.lines()
            .any(|l| l.starts_with("HTTP_WORKERS") && l.contains('3') && l.contains("environment")),
        "{said}"
    );
    assert!(said.contains("0 migration(s) would be applied"), "{said}");
    let (ok, said) = run(&[("JWT_SECRET", "short")]);
    assert!(!ok, "{said}");
    assert!(said.contains("problem: JWT_SECRET"), "{said}");
}
