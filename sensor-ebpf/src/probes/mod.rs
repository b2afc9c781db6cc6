pub mod exec;
pub mod file;
pub mod mount;
pub mod net;
pub mod process;
