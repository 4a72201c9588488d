//! Running the Python reference scripts (diffusers, transformers) the parity tests compare
//! against, with the project venv (`scripts/setup.sh`; `PRESSROOM_PYTHON` for another).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub(crate) fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("PRESSROOM_PYTHON") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

/// Runs `scripts/<script> OUT args…` into a new temporary OUT; fails with the script's
/// stderr, or with how to get the venv when it is missing.
pub(crate) fn run_script<S: AsRef<OsStr>>(script: &str, args: &[S]) -> tempfile::TempDir {
    run_script_in(tempfile::tempdir().expect("tempdir"), script, args)
}

/// [`run_script`] into `out`, which may already hold inputs for the script.
pub(crate) fn run_script_in<S: AsRef<OsStr>>(
    out: tempfile::TempDir,
    script: &str,
    args: &[S],
) -> tempfile::TempDir {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts")
        .join(script);
    let py = python();
    assert!(
        py.exists(),
        "parity tests need the project venv with torch, diffusers and transformers at {} (run \
         scripts/setup.sh, or set PRESSROOM_PYTHON)",
        py.display()
    );
    let result = std::process::Command::new(&py)
        .arg(&path)
        .arg(out.path())
        .args(args)
        .output()
        .expect("run the reference script");
    assert!(
        result.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    out
}
