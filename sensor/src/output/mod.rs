//! Rendering events for the outside world.
pub mod context;
pub mod json;
pub mod names;
