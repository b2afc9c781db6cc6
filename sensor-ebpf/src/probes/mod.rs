pub mod exec;
pub mod mount;
pub mod net;
pub mod privilege;
pub mod process;
