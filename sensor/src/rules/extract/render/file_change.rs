//! Falco's renderings of the file-tree changes' numbers: unlinkat's, linkat's and renameat2's
//! flags, a chmod's mode (`S_ISUID|…`), mkdir's mode (hex, as Falco prints it). The bits are
//! Falco's as `lanner_common::file_change::ppm` converts them.

use lanner_common::file_change::ppm;

use super::falco_flags;

/// unlinkat's `flags`: `AT_REMOVEDIR`; `None` (the number is shown) for none.
pub fn unlinkat_flags(ppm: u32) -> Option<String> {
    falco_flags(&[(ppm::AT_REMOVEDIR, "AT_REMOVEDIR")], ppm)
}

/// linkat's `flags` in Falco's table order; `None` for none.
pub fn linkat_flags(ppm: u32) -> Option<String> {
    #[rustfmt::skip]
    const T: &[(u32, &str)] = &[
        (ppm::AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"), (ppm::AT_EMPTY_PATH, "AT_EMPTY_PATH"),
    ];
    falco_flags(T, ppm)
}

/// renameat2's `flags` in Falco's table order; `None` for none.
pub fn renameat2_flags(ppm: u32) -> Option<String> {
    #[rustfmt::skip]
    const T: &[(u32, &str)] = &[
        (ppm::RENAME_NOREPLACE, "RENAME_NOREPLACE"), (ppm::RENAME_EXCHANGE, "RENAME_EXCHANGE"),
        (ppm::RENAME_WHITEOUT, "RENAME_WHITEOUT"),
    ];
    falco_flags(T, ppm)
}

/// Falco's mode names (`chmod_mode`) in its table's order: the "other" bits first.
#[rustfmt::skip]
const CHMOD_MODE: &[(u32, &str)] = &[
    (0o1, "S_IXOTH"), (0o2, "S_IWOTH"), (0o4, "S_IROTH"), (0o10, "S_IXGRP"), (0o20, "S_IWGRP"),
    (0o40, "S_IRGRP"), (0o100, "S_IXUSR"), (0o200, "S_IWUSR"), (0o400, "S_IRUSR"),
    (ppm::S_ISVTX, "S_ISVTX"), (ppm::S_ISGID, "S_ISGID"), (ppm::S_ISUID, "S_ISUID"),
];

/// `evt.arg.mode` of a chmod (`ppm::chmod_mode` of the mode as passed): the set bits' names
/// `|`-joined (`S_IXOTH|S_IROTH|…|S_ISUID`); a mode of 0 shows as Falco's octal `0`.
pub fn chmod_mode(ppm: u32) -> String {
    falco_flags(CHMOD_MODE, ppm).unwrap_or_else(|| super::octal(ppm))
}

/// `evt.arg.mode` of mkdir and mkdirat: Falco prints this one as a number in upper-case hex
/// without a prefix (`1ED` for 0755).
pub fn mkdir_mode(mode: u32) -> String {
    format!("{mode:X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_flags_as_falco_renders_them() {
        assert_eq!(
            chmod_mode(ppm::chmod_mode(0o4755)),
            "S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID"
        );
        assert_eq!(chmod_mode(0o2000), "S_ISGID");
        assert_eq!(chmod_mode(0o644), "S_IROTH|S_IRGRP|S_IWUSR|S_IRUSR");
        assert_eq!(chmod_mode(0), "0");
        // The file-type bits a caller may pass are not Falco's.
        assert_eq!(ppm::chmod_mode(0o100644), 0o644);
        assert_eq!(mkdir_mode(0o755), "1ED");
        assert_eq!(
            unlinkat_flags(ppm::unlinkat_flags(0x200)).as_deref(),
            Some("AT_REMOVEDIR")
        );
        assert_eq!(unlinkat_flags(0), None);
        assert_eq!(
            linkat_flags(ppm::linkat_flags(0x1400)).as_deref(),
            Some("AT_SYMLINK_FOLLOW|AT_EMPTY_PATH")
        );
        assert_eq!(
            renameat2_flags(ppm::renameat2_flags(2 | 8)).as_deref(),
            Some("RENAME_EXCHANGE")
        );
    }
}
