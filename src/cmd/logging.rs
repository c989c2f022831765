//! The log on stderr: tracing's formatter, as text or JSON lines, coloured only for a terminal.

use std::io::IsTerminal;

use tickflow::cli::LogFormat;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` chooses what is logged (default: warnings).
///
/// Text lines carry ANSI colour codes only when stderr is a terminal and `NO_COLOR` is unset or
/// empty (<https://no-color.org>), so a log redirected to a file or a pipe stays plain. JSON
/// lines are one object each, with `timestamp`, `level`, `target` and the event's `fields`.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        // librdkafka logs every failed connection attempt; tickflow reports unreachable
        // brokers itself, so its log is off unless RUST_LOG asks for it.
        .unwrap_or_else(|_| EnvFilter::new("warn,librdkafka=off,rdkafka::client=off"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Whether text lines may be coloured.
fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}
