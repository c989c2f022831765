//! The `tickflow` binary's own modules: the subcommands' bodies and the log setup, on top of
//! the library.

pub mod bench;
pub mod check;
pub mod cluster;
pub mod logging;
pub mod produce;
pub mod run;
