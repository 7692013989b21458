//! `cargo xtask codegen`: botocore models → checked-in Rust in `carillon-awsapi`.
//!
//! For each service the generated module holds every shape as a Rust type with `Validate`
//! and `Redact` impls from the model's constraints, the operation table with HTTP bindings,
//! the modelled error statuses, one `#[async_trait]` trait with a `NotImplementedException`
//! default per operation, a dispatcher from operation name to trait method, and an
//! `impl_<module>_api!` macro that writes a service's trait implementation from a table
//! mapping each operation to the function implementing it.
//! Output is piped through `rustfmt` and depends only on the model files, so a second run
//! produces no diff (`--check` enforces it).

mod emit;
mod names;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

/// What `run` does with the generated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Overwrite the checked-in files.
    Write,
    /// Fail when a checked-in file differs.
    Check,
}

/// One service to generate.
pub struct ServiceDef {
    /// Rust module name under `generated/`.
    pub module: &'static str,
    /// Model file under `models/`.
    pub model: &'static str,
    /// Name of the generated operations trait.
    pub api_trait: &'static str,
    /// Error code for model-constraint violations.
    pub validation_error: &'static str,
}

impl ServiceDef {
    /// Name of the generated macro that implements the service's trait from a table of
    /// operations, e.g. `impl_chime_api`.
    pub fn impl_macro(&self) -> String {
        format!("impl_{}_api", self.module)
    }
}

/// The services Carillon speaks. The validation error is the model's own shape where it has
/// one, as the real services answer it.
pub const SERVICES: &[ServiceDef] = &[
    // WorkMail models InvalidParameterException (400) and answers constraint violations with it.
    ServiceDef {
        module: "workmail",
        model: "workmail-2017-10-01.json",
        api_trait: "WorkMailApi",
        validation_error: "InvalidParameterException",
    },
    // Chime has no ValidationException shape; it answers bad input with BadRequestException (400).
    ServiceDef {
        module: "chime",
        model: "chime-2018-05-01.json",
        api_trait: "ChimeApi",
        validation_error: "BadRequestException",
    },
    // Wickr's validation shape is ValidationError (422).
    ServiceDef {
        module: "wickr",
        model: "wickr-2024-02-01.json",
        api_trait: "WickrApi",
        validation_error: "ValidationError",
    },
    // Message flow models no validation shape: the common ValidationException (400).
    ServiceDef {
        module: "workmailmessageflow",
        model: "workmailmessageflow-2019-05-01.json",
        api_trait: "WorkMailMessageFlowApi",
        validation_error: "ValidationException",
    },
];

/// Generates every service module and `mod.rs` under the workspace `root`.
pub fn run(root: &Path, mode: Mode) -> Result<(), String> {
    let out_dir = root.join("crates/carillon-awsapi/src/generated");
    check_every_model_is_listed(&root.join("models"))?;
    let mut files = Vec::new();
    for def in SERVICES {
        let path = root.join("models").join(def.model);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        let model: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))?;
        let code = emit::service(def, &model).map_err(|e| format!("{}: {e}", def.model))?;
        files.push((format!("{}.rs", def.module), rustfmt(&code)?));
    }
    files.push((
        "mod.rs".to_string(),
        rustfmt(&emit::module_index(SERVICES))?,
    ));

    let mut stale = Vec::new();
    for (name, code) in &files {
        let path = out_dir.join(name);
        match mode {
            Mode::Write => {
                std::fs::create_dir_all(&out_dir)
                    .map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
                std::fs::write(&path, code)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
            }
            Mode::Check => {
                if std::fs::read_to_string(&path).ok().as_deref() != Some(code.as_str()) {
                    stale.push(path.display().to_string());
                }
            }
        }
    }
    // A module whose model is gone must not linger.
    let generated: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(&out_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rs") && !generated.contains(&name.as_str()) {
                match mode {
                    Mode::Write => std::fs::remove_file(entry.path())
                        .map_err(|e| format!("removing {}: {e}", entry.path().display()))?,
                    Mode::Check => stale.push(entry.path().display().to_string()),
                }
            }
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "generated code is out of date (run `cargo xtask codegen`): {}",
            stale.join(", ")
        ))
    }
}

/// Fails when `models/` holds a service model the service table does not name, so a new
/// model is never silently left without generated code.
fn check_every_model_is_listed(models: &Path) -> Result<(), String> {
    let entries =
        std::fs::read_dir(models).map_err(|e| format!("reading {}: {e}", models.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_service_model = name.ends_with(".json") && !name.ends_with(".paginators.json");
        if is_service_model && !SERVICES.iter().any(|def| def.model == name) {
            return Err(format!(
                "models/{name} is not in the xtask service table (xtask/src/codegen/mod.rs)"
            ));
        }
    }
    Ok(())
}

/// Formats Rust source with `rustfmt --edition 2021`.
fn rustfmt(code: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = code.to_string();
    // Write from another thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt writer panicked".to_string())?
        .map_err(|e| format!("feeding rustfmt: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in generated code is what the models produce (and generation is
    /// deterministic, since the check regenerates from scratch).
    #[test]
    fn checked_in_code_is_up_to_date() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        run(root, Mode::Check).unwrap();
    }
}
