//! Falco rules over Lanner's events.

pub mod extract;

#[cfg(test)]
mod extract_tests;
