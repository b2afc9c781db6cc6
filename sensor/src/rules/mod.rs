//! Falco rules over Lanner's events.

pub mod commands;
pub mod extract;
pub mod files;
pub mod live;

#[cfg(test)]
mod extract_tests;
