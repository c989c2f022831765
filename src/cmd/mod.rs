//! The `tickflow` binary's own modules: the subcommands' bodies, on top of the library.

pub mod bench;
pub mod cluster;
pub mod produce;
pub mod run;
