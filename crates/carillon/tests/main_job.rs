//! Issue 2 §8: the main job on real input, driven by the real `aws` CLI, boto3, smtplib and
//! imaplib (tests/e2e/main_job.py) against this crate's binary.
//!
//! Needs the Python clients from `scripts/test-env` (`CARILLON_TEST_PYTHON`, set by
//! `scripts/test`) and the corpus in `../shared/corpora/mail`. Without them the test says why
//! and skips — except under CI (`CI` set), where a missing prerequisite is a failure.

use std::path::PathBuf;
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn prerequisite_missing(what: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{what} (required under CI)");
    }
    eprintln!("SKIPPED main_job: {what}");
}

#[test]
fn main_job_on_real_input() {
    let root = workspace_root();
    let corpus = root.join("../shared/corpora/mail");
    if !corpus.join("default").is_dir() {
        prerequisite_missing(&format!("corpus not found at {}", corpus.display()));
        return;
    }
    let Some(python) = std::env::var_os("CARILLON_TEST_PYTHON") else {
        prerequisite_missing("CARILLON_TEST_PYTHON is not set; run scripts/test");
        return;
    };
    let output = Command::new(python)
        .arg(root.join("tests/e2e/main_job.py"))
        .arg("--carillon")
        .arg(env!("CARGO_BIN_EXE_carillon"))
        .arg("--corpus")
        .arg(&corpus)
        .output()
        .expect("running tests/e2e/main_job.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "main job failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"));
}
