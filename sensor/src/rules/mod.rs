//! Falco rules over Lanner's events.

pub mod commands;
pub mod extract;
pub mod files;
pub mod live;
pub mod reloader;

#[cfg(test)]
mod extract_tests;
