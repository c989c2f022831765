//! The command line's help through the binary: every source and sink form is listed, and `-h`
//! (timely's hostfile flag) given alone says how to get help.

mod common;

use common::*;

fn help(args: &[&str]) -> String {
    let out = tickflow().args(args).output().expect("running tickflow");
    assert!(out.status.success(), "{args:?}: {}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_help_lists_every_source_and_sink() {
    let text = help(&["run", "--help"]);
    for form in [
        "`generator`",
        "`file:PATH`",
        "`-` (stdin)",
        "`kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]`",
        "`socket://HOST:PORT`",
        "`listen://ADDR:PORT`",
        "`stdout`",
        "`discard`",
        "`postgres://USER@HOST:PORT/DB`",
        "libpq key/value string",
        "`redis://[USER:PASSWORD@]HOST:PORT[/DB]`",
    ] {
        assert!(text.contains(form), "run --help lacks {form}:\n{text}");
    }
}

#[test]
fn bench_help_lists_the_kafka_source() {
    let text = help(&["bench", "--help"]);
    assert!(text.contains("`kafka://BROKER"), "{text}");
}

#[test]
fn run_dash_h_alone_points_to_help() {
    for args in [&["run", "-h"][..], &["run", "--source", "generator", "-h"]] {
        let out = tickflow().args(args).output().expect("running tickflow");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim(),
            "tickflow: error: -h is --hostfile (timely's convention) and needs a file; for help use --help"
        );
    }
}
