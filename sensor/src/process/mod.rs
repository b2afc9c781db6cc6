//! The process table: who is the parent, what did it run, since when. Seeded from `/proc` at
//! start-up so processes older than the sensor have ancestry, then kept current by the fork,
//! exec and exit events. Owned by the enrichment task; nothing else touches it.

pub mod procfs;
pub mod rootfs;
pub mod table;
pub mod users;

pub use table::{Ancestor, ProcessTable, TableStats};
