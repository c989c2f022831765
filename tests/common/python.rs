//! The Python interpreter the tests run (`TICKFLOW_TEST_PYTHON`, default `python3`), checked
//! once per test process for the modules a test needs.
//!
//! A test that runs Python asks [`python`] first. When the interpreter is missing or cannot
//! import a module, the test prints a `SKIPPED` line naming what is missing and how to install
//! it, and passes; under `CI=true` it fails instead, so CI never passes without running it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// The interpreter the tests run: `TICKFLOW_TEST_PYTHON`, or `python3` from the PATH.
pub fn interpreter() -> String {
    std::env::var("TICKFLOW_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// An interpreter known to start and to import the modules it was checked for.
#[derive(Clone, Debug)]
pub struct Python(String);

impl Python {
    /// A command running this interpreter.
    pub fn command(&self) -> Command {
        Command::new(&self.0)
    }

    /// A command running the script at `path` (relative to the crate's root) with this interpreter.
    pub fn script(&self, path: &str) -> Command {
        let mut c = self.command();
        c.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(path));
        c
    }
}

/// The tests' interpreter if it runs and imports every module in `modules` (none: the standard
/// library is enough). Otherwise [skips](super::skip) the test, `SKIPPED <test>: <what is
/// missing>; <how to install it>`, and returns `None` (under `CI=true` it fails instead).
///
/// The check runs once per test process for each list of modules; every test that skips says
/// so itself, so no skipped test goes unmentioned.
pub fn python(modules: &[&str]) -> Option<Python> {
    static CHECKED: Mutex<BTreeMap<Vec<String>, Result<(), String>>> = Mutex::new(BTreeMap::new());
    let exe = interpreter();
    let key: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
    let verdict = CHECKED
        .lock()
        .expect("no test panics while holding the check's lock")
        .entry(key)
        .or_insert_with(|| check(&exe, modules))
        .clone();
    match verdict {
        Ok(()) => Some(Python(exe)),
        Err(why) => {
            super::skip(&why);
            None
        }
    }
}

/// Runs `exe` once to import `modules`; says what is missing and how to install it.
fn check(exe: &str, modules: &[&str]) -> Result<(), String> {
    let code = if modules.is_empty() {
        "pass".to_string()
    } else {
        format!("import {}", modules.join(", "))
    };
    let out = match Command::new(exe).args(["-c", &code]).output() {
        Ok(out) => out,
        Err(e) => {
            return Err(format!(
                "cannot run Python interpreter {exe:?} ({e}); install Python 3, or point \
                 TICKFLOW_TEST_PYTHON at one"
            ))
        }
    };
    if out.status.success() {
        return Ok(());
    }
    // Name the first module that does not import, so the hint installs the right package.
    let missing = modules
        .iter()
        .find(|m| {
            !Command::new(exe)
                .args(["-c", &format!("import {m}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .copied();
    match missing {
        Some(m) => Err(format!(
            "Python module {m} is missing from {exe}; install it with `{exe} -m pip install {}`",
            pip_package(m)
        )),
        None => Err(format!(
            "{exe} -c {code:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// The PyPI package that provides the importable module `module`.
fn pip_package(module: &str) -> String {
    match module {
        "confluent_kafka" => "confluent-kafka".into(),
        other => other.replace('_', "-"),
    }
}
