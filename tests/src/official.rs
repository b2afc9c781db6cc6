//! The official Falco rules files, test data for the engine's compatibility (not part of this
//! repository): `$LANNER_FALCO_RULES_DIR`, else `/work/shared/falco-rules`, else
//! `<workspace>/../shared/falco-rules`.

use std::path::PathBuf;

/// In load order: later files build on (and may override) earlier ones, as in Falco.
pub const OFFICIAL_RULES_FILES: [&str; 3] = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

/// The directory holding the official rules files; panics saying where it looked.
pub fn official_rules_dir() -> PathBuf {
    crate::host::shared_data_dir(
        "LANNER_FALCO_RULES_DIR",
        "falco-rules",
        &OFFICIAL_RULES_FILES,
    )
}

/// The three files' paths, in load order.
pub fn official_rules_paths() -> Vec<String> {
    let dir = official_rules_dir();
    OFFICIAL_RULES_FILES
        .iter()
        .map(|f| dir.join(f).to_string_lossy().into_owned())
        .collect()
}
