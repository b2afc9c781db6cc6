//! The file-tree changes as typed events (made by `reader::decode`): unlink*, rmdir, rename*,
//! mkdir*, symlink*, link*, chmod, fchmod, fchmodat.

pub use lanner_common::file_change::ChangeOp;
use lanner_rules::EvtType;

use crate::fspath::FilePath;

/// One call that changes the file tree, with the arguments as the caller passed them.
#[derive(Clone, Debug, PartialEq)]
pub struct FileChange {
    pub op: ChangeOp,
    /// 0, or `-errno`.
    pub ret: i64,
    /// The first path: unlink's, rmdir's, mkdir's and chmod's file, the old path of a rename or
    /// a link, a symlink's target (its content); fchmod's fd as the kernel walked it (`raw` is
    /// `None`; all `None` when the fd was not open).
    pub path: FilePath,
    /// The second path: the new path of a rename or a link, a symlink's link path.
    pub second: Option<FilePath>,
    /// The first path's directory fd as passed (`AT_FDCWD` for the calls without one);
    /// fchmod's fd.
    pub fd1: i32,
    /// The second path's directory fd as passed (`AT_FDCWD` for the calls without one).
    pub fd2: i32,
    /// The kernel's flags as passed (unlinkat, renameat2, linkat), else 0.
    pub flags: u32,
    /// The mode as passed (mkdir*, chmod, fchmod, fchmodat), else 0.
    pub mode: u32,
}

impl FileChange {
    pub fn evt_type(&self) -> EvtType {
        self.op.evt_type()
    }

    /// A path of the event was cut (either of them).
    pub fn cut(&self) -> bool {
        self.path.cut || self.second.as_ref().is_some_and(|p| p.cut)
    }
}
