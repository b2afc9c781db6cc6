pub mod exec;
pub mod file;
pub mod file_change;
pub mod mount;
pub mod net;
pub mod net_fd;
pub mod privilege;
pub mod process;
