//! `cargo xtask docs --check`: the written map must not drift from the code.
//!
//! Two rules, each reported with every offence at once:
//! - every path `ARCHITECTURE.md` names in backticks exists: a repository path (one that
//!   starts with a top-level folder of the workspace, or names a `.rs`/`.sql`/`.py`/`.toml`/
//!   `.md`/`.json` file), a crate name (`carillon-mail`), or a Rust path
//!   (`carillon_mail::delivery`, `carillon_store::Store::begin_write`) whose modules are
//!   files and whose last segments are items defined in its crate;
//! - every crate's `//!` doc names each of its public modules (`pub mod x;` in `lib.rs`, as
//!   `` `x` `` or `` `x::item` ``), so the per-module inventory lives in the crate doc, where
//!   it cannot drift from the code.

use std::path::{Path, PathBuf};

/// Top-level folders a repository path in the documents may start with.
const TOP_LEVEL: &[&str] = &[
    "crates/", "tests/", "scripts/", "bench/", "models/", "xtask/", ".ci/",
];
/// Extensions that make a backticked token a repository path.
const EXTENSIONS: &[&str] = &[".rs", ".sql", ".py", ".toml", ".md", ".json"];

/// Runs both checks from the workspace `root`; `Err` lists every offence, one per line.
pub fn check(root: &Path) -> Result<(), String> {
    let mut offences = architecture_paths(root)?;
    offences.extend(crate_docs(root)?);
    if offences.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} offence(s):\n{}",
            offences.len(),
            offences.join("\n")
        ))
    }
}

/// Every backticked path of `ARCHITECTURE.md` that names nothing.
fn architecture_paths(root: &Path) -> Result<Vec<String>, String> {
    let text = read(&root.join("ARCHITECTURE.md"))?;
    let mut offences = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for token in backticked(line) {
            if let Some(problem) = resolve(root, token) {
                offences.push(format!(
                    "ARCHITECTURE.md:{}: `{token}`: {problem}",
                    number + 1
                ));
            }
        }
    }
    Ok(offences)
}

/// The spans between backticks of `line`.
fn backticked(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// Why `token` names nothing, or `None` when it exists or is not a path at all.
fn resolve(root: &Path, token: &str) -> Option<String> {
    let token = token.trim_end_matches("()");
    if token.contains(char::is_whitespace) || token.contains(['<', '{', '*', '…']) {
        return None;
    }
    if TOP_LEVEL.iter().any(|top| token.starts_with(top))
        || (!token.starts_with('/') && EXTENSIONS.iter().any(|ext| token.ends_with(ext)))
    {
        return (!root.join(token).exists()).then(|| "no such file or folder".to_string());
    }
    if let Some(name) = token.strip_prefix("carillon-") {
        if !name.contains(['/', ':', '.'])
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
        {
            return (!root.join("crates").join(token).is_dir()).then(|| "no such crate".into());
        }
    }
    if token.starts_with("carillon") && token.contains("::") {
        return rust_path(root, token);
    }
    None
}

/// Resolves `carillon_x::module::…::Item::member` against `crates/carillon-x/src`.
fn rust_path(root: &Path, token: &str) -> Option<String> {
    let mut segments = token.split("::");
    let krate = segments.next()?.replace('_', "-");
    let mut dir = root.join("crates").join(&krate).join("src");
    if !dir.is_dir() {
        return Some(format!("no crate {krate}"));
    }
    let mut file = dir.join("lib.rs");
    if !file.exists() {
        file = dir.join("main.rs");
    }
    let mut items = Vec::new();
    for segment in segments {
        if !items.is_empty() {
            items.push(segment);
            continue;
        }
        let as_file = dir.join(format!("{segment}.rs"));
        let as_dir = dir.join(segment).join("mod.rs");
        if as_file.exists() {
            file = as_file;
            dir = dir.join(segment);
        } else if as_dir.exists() {
            file = as_dir;
            dir = dir.join(segment);
        } else {
            items.push(segment);
        }
    }
    let source = std::fs::read_to_string(&file).ok()?;
    let crate_src = root.join("crates").join(&krate).join("src");
    for item in items {
        if !defines(&source, item) && !defined_in_tree(&crate_src, item) {
            return Some(format!("{} defines no `{item}`", relative(root, &file)));
        }
    }
    None
}

/// Whether `source` defines or re-exports `name`.
fn defines(source: &str, name: &str) -> bool {
    const KINDS: &[&str] = &[
        "fn ",
        "struct ",
        "enum ",
        "trait ",
        "const ",
        "type ",
        "static ",
        "mod ",
        "macro_rules! ",
    ];
    source.lines().any(|line| {
        let line = line.trim_start();
        KINDS.iter().any(|kind| {
            line.split(kind).skip(1).any(|rest| {
                rest.starts_with(name)
                    && !rest[name.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            })
        }) || (line.starts_with("pub use") && line.contains(name))
            || (line.contains("=>") && line.trim_start().starts_with(name))
            || line.starts_with(&format!("{name}("))
            || line.starts_with(&format!("{name},"))
            || line.starts_with(&format!("{name} {{"))
    })
}

/// Whether any file under `dir` defines `name` (a method of a type defined elsewhere).
fn defined_in_tree(dir: &Path, name: &str) -> bool {
    rust_files(dir).iter().any(|file| {
        std::fs::read_to_string(file)
            .map(|source| defines(&source, name))
            .unwrap_or(false)
    })
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// Every public module a crate's `lib.rs` declares that its `//!` doc does not name.
fn crate_docs(root: &Path) -> Result<Vec<String>, String> {
    let mut offences = Vec::new();
    let crates = std::fs::read_dir(root.join("crates")).map_err(|e| format!("crates/: {e}"))?;
    let mut libs: Vec<PathBuf> = crates
        .flatten()
        .map(|entry| entry.path().join("src/lib.rs"))
        .filter(|lib| lib.exists())
        .collect();
    libs.sort();
    for lib in libs {
        let source = read(&lib)?;
        let doc: String = source
            .lines()
            .filter_map(|line| line.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        for line in source.lines() {
            let Some(module) = line
                .strip_prefix("pub mod ")
                .and_then(|rest| rest.strip_suffix(';'))
            else {
                continue;
            };
            if !doc.contains(&format!("`{module}`")) && !doc.contains(&format!("`{module}::")) {
                offences.push(format!(
                    "{}: the crate doc does not name its public module `{module}`",
                    relative(root, &lib)
                ));
            }
        }
    }
    Ok(offences)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The check CI relies on: ARCHITECTURE.md and the crate docs match the tree.
    #[test]
    fn architecture_and_crate_docs_name_only_what_exists() {
        if let Err(e) = check(&root()) {
            panic!("{e}");
        }
    }

    #[test]
    fn resolves_files_crates_and_rust_paths() {
        let root = root();
        assert_eq!(resolve(&root, "xtask/src/docs.rs"), None);
        assert!(resolve(&root, "xtask/src/nothing.rs").is_some());
        assert_eq!(resolve(&root, "carillon-store"), None);
        assert!(resolve(&root, "carillon-nothing").is_some());
        assert_eq!(resolve(&root, "carillon_store::Store"), None);
        assert!(resolve(&root, "carillon_store::NoSuchThing").is_some());
        assert_eq!(
            resolve(&root, "/chat/v1/stream"),
            None,
            "URL paths are not files"
        );
        assert_eq!(
            resolve(&root, "<data-dir>/keys/"),
            None,
            "placeholders are skipped"
        );
    }
}
