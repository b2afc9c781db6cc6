//! Version requirements. `required_engine_version`: an integer N means `0.N.0` (the engine's
//! old numbering), anything else must be a semver `x.y.z`; the engine satisfies it with the
//! same major and a version not lower. `required_plugin_versions`: `{name, version,
//! alternatives}` entries, checked for shape only (`falco: rule_loader_reader.cpp`,
//! `rule_loader_collector.cpp`, sinsp_version).

use std::fmt;

use crate::{
    diag::{Diagnostic, Pos},
    yaml::{Node, NodeKind},
};

use super::decode::MapReader;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    pub(crate) const fn new((major, minor, patch): (u64, u64, u64)) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// The version a rules file asks for, as written in `required_engine_version`.
    pub(crate) fn parse_required(s: &str) -> Result<Self, String> {
        if let Ok(n) = s.parse::<u32>() {
            return Ok(Self::new((0, u64::from(n), 0)));
        }
        Self::parse_semver(s).ok_or_else(|| {
            format!(
                "Unable to parse engine version '{s}' as a semver string. Expected \"x.y.z\" semver format."
            )
        })
    }

    /// `x.y.z`, optionally followed by a `-pre` or `+build` suffix (ignored).
    pub(crate) fn parse_semver(s: &str) -> Option<Self> {
        let core = s.split(['-', '+']).next()?;
        let mut parts = core.split('.');
        let mut num = || -> Option<u64> {
            let p = parts.next()?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let v = Self::new((num()?, num()?, num()?));
        parts.next().is_none().then_some(v)
    }

    /// Whether an engine of version `self` can load rules requiring `required`.
    pub(crate) fn satisfies(self, required: Version) -> bool {
        self.major == required.major && self >= required
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A `required_engine_version` item: the version, as written, and where.
pub(crate) fn read_engine_version(
    r: &MapReader<'_, '_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(Version, String, Pos), Diagnostic> {
    r.warn_unknown_keys(&["required_engine_version"], warnings);
    let (node, s) = r.required("required_engine_version")?;
    let version = Version::parse_required(s).map_err(|msg| r.error_at(node, msg))?;
    Ok((version, s.to_string(), r.yaml.value_pos(node)))
}

/// A `required_plugin_versions` item: checked for shape (Lanner has no plugins to match).
pub(crate) fn read_plugin_versions(
    r: &MapReader<'_, '_>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    r.warn_unknown_keys(&["required_plugin_versions"], warnings);
    let plugins = match r.get("required_plugin_versions") {
        Some(Node {
            kind: NodeKind::Seq(plugins),
            ..
        }) => plugins,
        Some(val) => {
            return Err(r.error_at(val, "Value of required_plugin_versions must be a sequence"));
        }
        None => return Err(r.error("Item has no mapping for key 'required_plugin_versions'")),
    };
    for plugin in plugins {
        let names = requirement(r, plugin, "Plugin version must be a mapping", warnings)?;
        let mut seen = vec![names];
        let p = MapReader::new(r.yaml, plugin, "plugin requirement");
        if let Some(alts) = p.get("alternatives") {
            let NodeKind::Seq(alts) = &alts.kind else {
                return Err(p.error_at(
                    alts,
                    "Value of plugin version alternatives must be a sequence",
                ));
            };
            for alt in alts {
                let name = requirement(
                    r,
                    alt,
                    "Plugin version alternative must be a mapping",
                    warnings,
                )?;
                if seen.contains(&name) {
                    return Err(p.error(format!(
                        "Defined multiple alternative version requirements for plugin '{name}'"
                    )));
                }
                seen.push(name);
            }
        }
    }
    Ok(())
}

/// One `{name, version}` of `required_plugin_versions`; returns the name.
fn requirement(
    r: &MapReader<'_, '_>,
    node: &Node,
    not_map: &str,
    warnings: &mut Vec<Diagnostic>,
) -> Result<String, Diagnostic> {
    if !matches!(node.kind, NodeKind::Map(_)) {
        return Err(r.error_at(node, not_map));
    }
    let p = MapReader::new(r.yaml, node, "plugin requirement");
    p.warn_unknown_keys(&["name", "version", "alternatives"], warnings);
    let name = p.string("name", false)?.unwrap_or_default();
    let (vnode, version) = p.required("version")?;
    if Version::parse_semver(version).is_none() {
        return Err(p.error_at(
            vnode,
            format!("Invalid required version '{version}' for plugin '{name}'"),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_minor_versions_and_semver_is_compared() {
        let engine = Version::new((0, 63, 0));
        assert_eq!(Version::parse_required("57"), Ok(Version::new((0, 57, 0))));
        assert_eq!(
            Version::parse_required("0.57.0"),
            Ok(Version::new((0, 57, 0)))
        );
        assert_eq!(
            Version::parse_required("0.57.0-rc1"),
            Ok(Version::new((0, 57, 0)))
        );
        assert!(Version::parse_required("0.57").is_err());
        assert!(Version::parse_required("latest").is_err());
        assert!(engine.satisfies(Version::new((0, 63, 0))));
        assert!(!engine.satisfies(Version::new((0, 63, 1))));
        assert!(!engine.satisfies(Version::new((1, 0, 0))));
    }
}
