//! The README's Quick start, run as a newcomer would: every command of its `sh` blocks, read
//! from README.md itself so that this test breaks when the README drifts.
//!
//! How a command is run:
//! 1. The blocks of the `## Quick start` section are read; `\` continuations are joined and
//!    `# comments` dropped.
//! 2. `cargo install`, `cargo build` and `cargo test` are not run (this test runs under
//!    `cargo test`, with tickflow already built); everything else is.
//! 3. `tickflow`, `./target/release/tickflow` and `cargo run --release --` become the binary
//!    under test, `python3` the tests' interpreter (`TICKFLOW_TEST_PYTHON`).
//! 4. Unbounded runs are bounded: the generator with `--rate 0 --events 3000`, `produce` and
//!    `make_ticks.py` to at most 20,000 events, `tail -n +1 -f FILE` is `cat FILE`. A PostgreSQL
//!    sink writes into a schema of this test's own.
//! 5. Each command runs with `sh -c` in a scratch directory that sees the repository's
//!    `dataflows/` and `scripts/`, in README order (the input file is made first); it must exit
//!    0 and produce rows: result rows on stdout, in its `file:` sink or in its tables, or ticks in
//!    the file it writes.
//!
//! A command this test does not know how to bound fails it, so that a new Quick start command
//! is either taught here or kept out of the Quick start.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::pg::*;
use common::python::*;
use common::*;

/// Events a bounded generator run makes: enough for windows of several symbols, fast.
const GENERATOR_EVENTS: &str = "3000";
/// The most events `produce` or `make_ticks.py` writes here.
const MAX_FILE_EVENTS: u64 = 20_000;

/// The commands of the `sh` blocks of the README section headed `heading`.
fn section_commands(readme: &str, heading: &str) -> Vec<String> {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("README.md has no {heading:?} section"));
    let body = &readme[start + heading.len() + 2..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in body.lines() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_sh = !in_sh && fence == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        // A comment starts at a `#` after a blank; none of the commands has one inside a word.
        let code = match line.find(" #") {
            Some(i) => &line[..i],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let code = code.trim_end();
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let command = pending.trim().to_string();
        pending.clear();
        if !command.is_empty() {
            commands.push(command);
        }
    }
    commands
}

/// What one command needs and where its rows appear.
#[derive(Debug, Default)]
struct Plan {
    /// The shell line to run, with substitutions and bounds.
    shell: String,
    /// The tick file it writes (`> FILE`, or `make_ticks.py`'s argument).
    tick_file: Option<String>,
    /// `--sink file:PATH`.
    file_sink: Option<String>,
    /// A PostgreSQL sink was given.
    postgres: bool,
    /// The schema of this test's own a PostgreSQL sink writes into.
    schema: String,
    /// Python runs (needs the interpreter).
    python: bool,
}

/// Why a command is not run here, if it is not.
fn not_run(command: &str) -> Option<&'static str> {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["cargo", "install", ..] => {
            Some("installs into ~/.cargo/bin; the test uses the built binary")
        }
        ["cargo", "build", ..] => Some("cargo test has built the binary already"),
        ["cargo", "test", ..] => Some("this test runs under cargo test"),
        _ => None,
    }
}

/// The shell line for `command`, with the binary, the interpreter and bounds put in.
fn plan(command: &str) -> Plan {
    let bin = env!("CARGO_BIN_EXE_tickflow");
    let mut plan = Plan {
        // What `fresh_schema(.., "readme")` names, so the run can be planned before connecting.
        schema: format!("tf_readme_{}", std::process::id()),
        ..Plan::default()
    };
    let mut segments = Vec::new();
    for segment in command.split(" | ") {
        let mut words: Vec<String> = segment.split_whitespace().map(String::from).collect();
        assert!(
            words
                .iter()
                .all(|w| !w.contains(['\'', '"', '$', '`', ';', '&'])),
            "teach tests/readme.rs to run {command:?} (quotes or shell syntax)"
        );
        if let Some(i) = words.iter().position(|w| w == ">") {
            plan.tick_file = Some(words.get(i + 1).expect("a file after >").clone());
        }
        if words.starts_with(&["cargo", "run", "--release", "--"].map(String::from)) {
            words.splice(..4, [bin.to_string()]);
        } else if words[0] == "tickflow" || words[0] == "./target/release/tickflow" {
            words[0] = bin.to_string();
        }
        // Bounds go before a redirect, if any.
        let end = words.iter().position(|w| w == ">").unwrap_or(words.len());
        let mut tail = words.split_off(end);
        let has = |words: &[String], flag: &str| words.iter().any(|w| w == flag);
        match words.first().map(String::as_str) {
            Some(b) if b == bin => match words.get(1).map(String::as_str) {
                Some("run") => {
                    assert!(
                        !segment.contains("kafka://") && !segment.contains("socket://"),
                        "teach tests/readme.rs to run {command:?} (Kafka or sockets)"
                    );
                    if reads_the_generator(&words) {
                        words.extend(
                            ["--rate", "0", "--events", GENERATOR_EVENTS].map(String::from),
                        );
                    }
                    plan.file_sink = value_of(&words, "--sink")
                        .and_then(|s| s.strip_prefix("file:").map(String::from));
                    if words.iter().any(|w| w.starts_with("postgres://")) {
                        plan.postgres = true;
                        words.extend(["--pg-schema".into(), plan.schema.clone()]);
                    }
                    if !has(&words, "--quiet") {
                        words.push("--quiet".into());
                    }
                }
                Some("produce") => {
                    assert!(
                        value_of(&words, "--to").is_some_and(|t| t == "stdout"),
                        "teach tests/readme.rs to run {command:?} (produce to a server)"
                    );
                    if !has(&words, "--rate") {
                        words.extend(["--rate", "0"].map(String::from));
                    }
                    cap_events(&mut words);
                }
                _ => panic!("teach tests/readme.rs to run {command:?}"),
            },
            Some("python3") => {
                plan.python = true;
                words[0] = interpreter();
                assert_eq!(
                    words.get(1).map(String::as_str),
                    Some("scripts/make_ticks.py"),
                    "teach tests/readme.rs to run {command:?}"
                );
                plan.tick_file = Some(words.get(2).expect("make_ticks.py OUT").clone());
                cap_events(&mut words);
            }
            Some("tail") if words.len() == 5 && words[1..4] == ["-n", "+1", "-f"] => {
                words = vec!["cat".into(), words[4].clone()];
            }
            _ => panic!("teach tests/readme.rs to run {command:?}"),
        }
        words.append(&mut tail);
        let quoted: Vec<String> = words.iter().map(|w| shell_word(w)).collect();
        segments.push(quoted.join(" "));
    }
    plan.shell = segments.join(" | ");
    plan
}

/// `word` for `sh`: as it is when it holds nothing the shell would read, else single-quoted
/// (the binary's and the interpreter's paths may hold anything but a quote).
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:+=,@>".contains(c);
    if word.chars().all(plain) {
        word.to_string()
    } else {
        assert!(!word.contains('\''), "a quote in {word:?}");
        format!("'{word}'")
    }
}

/// The word after `flag`.
fn value_of<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    let i = words.iter().position(|w| w == flag)?;
    words.get(i + 1).map(String::as_str)
}

/// True for a `run` that reads the generator: no `--source` and a spec without sources or
/// none, or `--source generator`.
fn reads_the_generator(words: &[String]) -> bool {
    match value_of(words, "--source") {
        Some(source) => source == "generator",
        None => words
            .iter()
            .skip(2)
            .find(|w| w.ends_with(".toml"))
            .is_none_or(|spec| {
                let text =
                    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(spec))
                        .unwrap_or_else(|e| panic!("reading {spec}: {e}"));
                let spec: toml::Table = text.parse().expect("a TOML spec");
                spec.get("sources").is_none_or(|s| {
                    s.as_array()
                        .expect("sources is a list")
                        .iter()
                        .any(|s| s.as_str() == Some("generator"))
                })
            }),
    }
}

/// Sets `--events` to at most [`MAX_FILE_EVENTS`].
fn cap_events(words: &mut Vec<String>) {
    match words.iter().position(|w| w == "--events") {
        Some(i) => {
            let n: u64 = words[i + 1].parse().expect("--events N");
            words[i + 1] = n.min(MAX_FILE_EVENTS).to_string();
        }
        None => words.extend(["--events".into(), MAX_FILE_EVENTS.to_string()]),
    }
}

/// Runs `shell` in `dir`; asserts it exits 0; returns its stdout.
fn run_shell(dir: &Path, shell: &str, shown: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .args(["-c", shell])
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "README command {shown:?} (run as {shell:?}) failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_quick_start_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let commands = section_commands(&readme, "## Quick start");
    let dir = tempfile::tempdir().unwrap();
    for shared in ["dataflows", "scripts"] {
        std::os::unix::fs::symlink(root.join(shared), dir.path().join(shared))
            .expect("linking the repository's folders into the scratch directory");
    }
    let mut ran = Vec::new();
    let mut pg_client = None;
    for command in &commands {
        if let Some(why) = not_run(command) {
            eprintln!("not run: {command} ({why})");
            continue;
        }
        let p = plan(command);
        // Straight to stderr, like the SKIPPED line before it, which names only the test.
        let not_here = || {
            let _ = writeln!(
                std::io::stderr(),
                "  so this README command is not run: {command}"
            );
        };
        if p.python && python(&[]).is_none() {
            not_here();
            continue;
        }
        if p.postgres {
            if pg_client.is_none() {
                let Some(client) = pg() else {
                    not_here();
                    continue;
                };
                pg_client = Some(client);
            }
            let client = pg_client.as_mut().expect("connected just above");
            assert_eq!(
                fresh_schema(client, "readme"),
                p.schema,
                "the schema's name"
            );
        }
        eprintln!("running: {command}\n     as: {}", p.shell);
        let stdout = run_shell(dir.path(), &p.shell, command);
        if let Some(file) = &p.tick_file {
            let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
            let first = text
                .lines()
                .next()
                .unwrap_or_else(|| panic!("{command:?} wrote nothing"));
            let v: serde_json::Value = serde_json::from_str(first)
                .unwrap_or_else(|e| panic!("{command:?} wrote {first:?}: {e}"));
            assert!(
                v["stock_code"].is_string(),
                "{command:?} wrote {first:?}, not a tick"
            );
        } else if let Some(file) = &p.file_sink {
            let written = std::fs::read(dir.path().join(file)).unwrap();
            assert!(
                !rows(&written).is_empty(),
                "{command:?} wrote no rows to {file}"
            );
        } else if p.postgres {
            let client = pg_client.as_mut().expect("connected above");
            assert!(
                !table_rows(client, &p.schema).is_empty(),
                "{command:?} stored no rows"
            );
        } else {
            assert!(!rows(&stdout).is_empty(), "{command:?} printed no rows");
        }
        ran.push(command.clone());
    }
    // The Quick start makes its input file and runs files through tickflow; a README without
    // them would pass here vacuously.
    assert!(
        ran.iter().any(|c| c.contains("produce --to stdout")),
        "the Quick start should make ticks.jsonl with tickflow produce; ran {ran:?}"
    );
    assert!(
        ran.iter().filter(|c| c.contains(" run")).count() >= 4,
        "too few Quick start runs: {ran:?}"
    );
}
