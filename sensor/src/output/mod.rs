//! Rendering events for the outside world.
pub mod alert;
pub mod dump;
pub mod jsonw;
pub mod writer;
