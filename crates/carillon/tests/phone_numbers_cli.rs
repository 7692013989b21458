//! `carillon phone-numbers import FILE.csv` with the real binary: the summary line, the
//! refused lines named by file and line number on stderr with exit status 1, idempotence
//! across runs, a changed description updating the pool, and a missing file. Spec:
//! chime-zh.md §1.12; the country table chime-ja.md §4.2.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh data directory, removed when dropped.
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn import(data: &Path, file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carillon"))
        .arg("phone-numbers")
        .arg("import")
        .arg(file)
        .arg("--data-dir")
        .arg(data)
        .env_remove("CARILLON_DATABASE_URL")
        .env_remove("CARILLON_CONFIG")
        .output()
        .expect("carillon runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn import_summarizes_refuses_bad_lines_and_is_idempotent() {
    let dir = DataDir(
        std::env::temp_dir().join(carillon_store::testing::unique_name("carillon-pn-cli-")),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let data = dir.0.join("data");
    let csv = dir.0.join("numbers.csv");
    std::fs::write(
        &csv,
        "e164,country,type,capabilities,city,state\n\
         +12065550100,US,Local,voice;sms,Seattle,WA\n\
         +18005550100,US,TollFree,voice\n\
         # a comment\n\
         +442071230000,GB,Local,voice\n\
         +1206,US,Local,voice\n\
         +33123456789,FR,Local,voice\n\
         +12065550101,US,Pager,voice\n",
    )
    .unwrap();

    let first = import(&data, &csv);
    let (out, err) = (text(&first.stdout), text(&first.stderr));
    assert_eq!(first.status.code(), Some(1), "{out} {err}");
    assert!(
        out.contains("3 imported, 0 updated, 0 unchanged, 3 refused"),
        "{out}"
    );
    let file = csv.display().to_string();
    for line in [6, 7, 8] {
        assert!(
            err.contains(&format!("{file}:{line}: ")),
            "line {line}: {err}"
        );
    }
    assert!(err.contains("FR"), "{err}");
    assert!(err.contains("Pager"), "{err}");

    let again = import(&data, &csv);
    assert!(
        text(&again.stdout).contains("0 imported, 0 updated, 3 unchanged, 3 refused"),
        "{}",
        text(&again.stdout)
    );

    let good = dir.0.join("good.csv");
    std::fs::write(&good, "+12065550100,US,Local,voice;sms;mms,Seattle,WA\n").unwrap();
    let changed = import(&data, &good);
    assert!(changed.status.success(), "{}", text(&changed.stderr));
    assert!(
        text(&changed.stdout).contains("0 imported, 1 updated, 0 unchanged, 0 refused"),
        "{}",
        text(&changed.stdout)
    );

    let missing = import(&data, &dir.0.join("missing.csv"));
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("missing.csv"));
}
