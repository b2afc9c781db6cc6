//! Rendering events for the outside world.
pub mod json;
pub mod names;
