//! `lanner`'s agent as a library: every stage of the sensor, from the loader to the sinks.
//! The `lanner` binary (`main.rs`) is a thin command line over it; the library exists so that
//! the fuzz targets (`tests/fuzz/`) reach the same code through [`fuzz`].

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod container;
pub mod enrich;
pub mod event;
pub mod fspath;
#[doc(hidden)]
pub mod fuzz;
pub mod idhash;
pub mod k8s;
pub mod loader;
pub mod metrics;
pub mod output;
pub mod process;
pub mod reader;
pub mod replay;
pub mod rules;
pub mod shutdown;
pub mod signals;
pub mod sinks;
pub mod stats;
#[cfg(test)]
mod testutil;
pub mod textfile;
