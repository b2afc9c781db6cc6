//! Falco rules over Lanner's events.

pub mod commands;
pub mod evaluate;
pub mod extract;
pub mod files;
pub mod live;
pub mod reloader;
pub mod stage;

#[cfg(test)]
mod extract_tests;
#[cfg(test)]
mod official_privilege_tests;
