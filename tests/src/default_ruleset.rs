//! What the default ruleset (sensor/rules/default/lanner_rules.yaml) promises: each rule's
//! name, priority and tags as alerts carry them. The seed's response engine acts on the names
//! "Container Escape" and "Reverse Shell" and its FalcoCriticalAlert on priority Critical, so
//! these are contract, not detail.

use crate::RuleSpec;

pub const REVERSE_SHELL: RuleSpec = RuleSpec {
    name: "Reverse Shell",
    priority: "Critical",
    tags: &[
        "container",
        "host",
        "network",
        "process",
        "shell",
        "mitre_execution",
        "mitre_command_and_control",
        "T1059.004",
        "T1095",
    ],
};

pub const FILELESS_MEMFD: RuleSpec = RuleSpec {
    name: "Fileless Execution via memfd",
    priority: "Warning",
    tags: &[
        "container",
        "host",
        "process",
        "mitre_defense_evasion",
        "T1620",
    ],
};

pub const DEV_SHM_EXEC: RuleSpec = RuleSpec {
    name: "Execution from /dev/shm",
    priority: "Warning",
    tags: &[
        "container",
        "host",
        "process",
        "mitre_defense_evasion",
        "T1564",
    ],
};

pub const DEEP_PATH_EXEC: RuleSpec = RuleSpec {
    name: "Execution from an Unresolvable Deep Path",
    priority: "Warning",
    tags: &[
        "container",
        "host",
        "process",
        "mitre_defense_evasion",
        "T1564",
    ],
};

pub const CONTAINER_DRIFT: RuleSpec = RuleSpec {
    name: "Container Drift Executable Launched",
    priority: "Warning",
    tags: &[
        "container",
        "process",
        "mitre_execution",
        "mitre_command_and_control",
        "T1105",
    ],
};

pub const CREDENTIAL_READ: RuleSpec = RuleSpec {
    name: "Service Account Token or Cloud Credentials Read",
    priority: "Warning",
    tags: &[
        "container",
        "host",
        "process",
        "mitre_credential_access",
        "T1552.001",
        "T1528",
    ],
};

pub const PRIVATE_KEY_SEARCH: RuleSpec = RuleSpec {
    name: "Private Key or Password Search",
    priority: "Warning",
    tags: &[
        "container",
        "host",
        "process",
        "mitre_credential_access",
        "mitre_discovery",
        "T1552.001",
        "T1552.004",
    ],
};

pub const HOST_NAMESPACE_ENTRY: RuleSpec = RuleSpec {
    name: "Host Namespace Entry from Container",
    priority: "Warning",
    tags: &[
        "container",
        "process",
        "mitre_privilege_escalation",
        "T1611",
    ],
};

pub const PACKAGE_MANAGER: RuleSpec = RuleSpec {
    name: "Package Manager Launched in Container",
    priority: "Notice",
    tags: &[
        "container",
        "process",
        "software_mgmt",
        "mitre_command_and_control",
        "T1105",
    ],
};

pub const NETWORK_TOOL: RuleSpec = RuleSpec {
    name: "Network Tool Launched in Container",
    priority: "Notice",
    tags: &[
        "container",
        "network",
        "process",
        "mitre_discovery",
        "T1046",
    ],
};

pub const TERMINAL_SHELL: RuleSpec = RuleSpec {
    name: "Terminal Shell in Container",
    priority: "Notice",
    tags: &[
        "container",
        "process",
        "shell",
        "mitre_execution",
        "T1059.004",
    ],
};

pub const PRIVILEGED_PROCESS: RuleSpec = RuleSpec {
    name: "Privileged Process Launched in Container",
    priority: "Warning",
    tags: &[
        "container",
        "process",
        "mitre_privilege_escalation",
        "T1611",
    ],
};

pub const CONTAINER_ESCAPE: RuleSpec = RuleSpec {
    name: "Container Escape",
    priority: "Critical",
    tags: &[
        "container",
        "mount",
        "filesystem",
        "mitre_privilege_escalation",
        "T1611",
    ],
};

pub const NEW_MOUNT_API: RuleSpec = RuleSpec {
    name: "New Mount API Used in Container",
    priority: "Warning",
    tags: &[
        "container",
        "mount",
        "mitre_privilege_escalation",
        "mitre_defense_evasion",
        "T1611",
    ],
};

pub const CLOUD_METADATA: RuleSpec = RuleSpec {
    name: "Cloud Metadata Service Contacted from Container",
    priority: "Warning",
    tags: &[
        "container",
        "network",
        "mitre_credential_access",
        "mitre_discovery",
        "T1552.005",
    ],
};

pub const K8S_API_SERVER: RuleSpec = RuleSpec {
    name: "Kubernetes API Server Contacted from Container",
    priority: "Notice",
    tags: &["container", "network", "k8s", "mitre_discovery", "T1613"],
};

/// Every rule of the default ruleset, in file order.
pub const DEFAULT_RULES: [&RuleSpec; 16] = [
    &REVERSE_SHELL,
    &FILELESS_MEMFD,
    &DEV_SHM_EXEC,
    &DEEP_PATH_EXEC,
    &CONTAINER_DRIFT,
    &CREDENTIAL_READ,
    &PRIVATE_KEY_SEARCH,
    &HOST_NAMESPACE_ENTRY,
    &PACKAGE_MANAGER,
    &NETWORK_TOOL,
    &TERMINAL_SHELL,
    &PRIVILEGED_PROCESS,
    &CONTAINER_ESCAPE,
    &NEW_MOUNT_API,
    &CLOUD_METADATA,
    &K8S_API_SERVER,
];

/// Path of the default rules file in the source tree.
pub fn default_rules_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sensor/rules/default/lanner_rules.yaml")
}
