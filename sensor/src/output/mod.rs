//! Rendering events for the outside world.
pub mod alert;
pub mod context;
pub mod json;
pub mod jsonw;
pub mod writer;
