//! `pmatch`: path prefixes on `/` component boundaries (falco-fields.md 2.3, libsinsp
//! `prefix_search.h`).
//!
//! Falco's semantics, which we keep:
//! - Items and the tested path are both split on `/` with empty components dropped, so
//!   `/etc/`, `/etc` and `//etc` are the same item, a trailing `/` changes nothing (`/etc/`
//!   matches `/etc` itself and everything below it), and `/` matches every path.
//! - An item matches a path whose components start with the item's components: `/tmp/hello`
//!   matches `/tmp/hello` and `/tmp/hello/x`, not `/tmp/hello_world` nor `/tmp`.
//! - A component containing `*`, `?` or `[` is a glob matched against one path component
//!   (`/home/*/.ssh`); any other component is compared literally (a `\` in it is just a `\`).
//! - Relative items are not special: the leading `/` is not a component, so `etc` is the
//!   same item as `/etc`, and a relative value such as `etc/passwd` is tested the same way.
//!   Values that are not paths (`pipe:[123]`, `1.2.3.4:80->5.6.7.8:443`) are one component
//!   and only match an item that is that exact component. An empty item behaves like `/`.
//!
//! Where we differ: Falco's glob-component lookup advances its iterator inside the loop over
//! glob siblings, so after one glob sibling matches a component but its subtree fails, the
//! next sibling is tested against the following component. We test every sibling against the
//! same component, which is what the structure means.

use std::collections::HashMap;

use super::glob::glob;

/// `pmatch`: a set of path prefixes matched on `/` component boundaries; components may hold
/// glob wildcards matched within the component.
///
/// A component trie: literal components are looked up in a map, so thousands of items cost
/// one lookup per path component; only the (rare) wildcard components are tried one by one.
#[derive(Clone, Debug, Default)]
pub struct PathSet {
    root: Node,
}

#[derive(Clone, Debug, Default)]
struct Node {
    /// An item ends here: every path reaching this node matches. Such a node keeps no
    /// children, since longer items under it could never change the answer.
    terminal: bool,
    literal: HashMap<Box<str>, Node>,
    globs: Vec<(Box<str>, Node)>,
}

fn components(path: &str) -> impl Iterator<Item = &str> + Clone {
    path.split('/').filter(|c| !c.is_empty())
}

fn is_glob(component: &str) -> bool {
    component.contains(['*', '?', '['])
}

impl PathSet {
    pub fn new(items: &[String]) -> PathSet {
        let mut set = PathSet::default();
        for item in items {
            set.insert(item);
        }
        set
    }

    /// Adds one item.
    pub fn insert(&mut self, item: &str) {
        let mut node = &mut self.root;
        for comp in components(item) {
            if node.terminal {
                // A shorter item already covers this one.
                return;
            }
            node = if is_glob(comp) {
                match node.globs.iter().position(|(g, _)| &**g == comp) {
                    Some(i) => &mut node.globs[i].1,
                    None => {
                        node.globs.push((comp.into(), Node::default()));
                        let last = node.globs.len() - 1;
                        &mut node.globs[last].1
                    }
                }
            } else {
                node.literal.entry(comp.into()).or_default()
            };
        }
        node.terminal = true;
        node.literal = HashMap::new();
        node.globs = Vec::new();
    }

    /// No item at all: nothing matches (`pmatch ()`).
    pub fn is_empty(&self) -> bool {
        !self.root.terminal && self.root.literal.is_empty() && self.root.globs.is_empty()
    }

    pub fn matches(&self, path: &str) -> bool {
        self.root.matches(components(path))
    }

    /// The items, each as its components (`/etc/apt` → `["etc", "apt"]`; `/` → `[]`), after
    /// covering: an item under a shorter one is not listed. For analyses of the set (the
    /// kernel prefilter turns them into path prefixes).
    pub fn items(&self) -> Vec<Vec<&str>> {
        let mut out = Vec::new();
        self.root.items(&mut Vec::new(), &mut out);
        out
    }
}

/// Whether `pmatch` matches this item component as a glob (else literally).
pub fn is_glob_component(component: &str) -> bool {
    is_glob(component)
}

impl Node {
    fn items<'s>(&'s self, at: &mut Vec<&'s str>, out: &mut Vec<Vec<&'s str>>) {
        if self.terminal {
            out.push(at.clone());
            return;
        }
        let children = self.literal.iter().map(|(c, n)| (&**c, n));
        for (comp, child) in children.chain(self.globs.iter().map(|(c, n)| (&**c, n))) {
            at.push(comp);
            child.items(at, out);
            at.pop();
        }
    }

    fn matches<'p>(&self, mut rest: impl Iterator<Item = &'p str> + Clone) -> bool {
        if self.terminal {
            return true;
        }
        let Some(comp) = rest.next() else {
            // The path ended above every item (`/var` against `/var/run`).
            return false;
        };
        if let Some(child) = self.literal.get(comp)
            && child.matches(rest.clone())
        {
            return true;
        }
        self.globs
            .iter()
            .any(|(pattern, child)| glob(pattern, comp, false) && child.matches(rest.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::PathSet;

    fn set(items: &[&str]) -> PathSet {
        PathSet::new(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn prefixes_on_component_boundaries() {
        let s = set(&["/tmp/hello"]);
        assert!(s.matches("/tmp/hello"));
        assert!(s.matches("/tmp/hello/x"));
        assert!(s.matches("/tmp/hello/x/y/z"));
        assert!(s.matches("/tmp/hello/"));
        assert!(s.matches("//tmp//hello"));
        assert!(!s.matches("/tmp/hello_world"));
        assert!(!s.matches("/tmp/hell"));
        assert!(!s.matches("/tmp"));
        assert!(!s.matches("/tmp/"));
        assert!(!s.matches("/"));
        assert!(!s.matches(""));
        assert!(!s.matches("/var/tmp/hello"));
        assert!(!s.matches("/TMP/hello"));
    }

    #[test]
    fn the_falco_header_examples() {
        let s = set(&["/var/run", "/etc", "/lib", "/usr/lib"]);
        assert!(s.matches("/var/run/docker"));
        assert!(!s.matches("/boot"));
        assert!(!s.matches("/var/lib/messages"));
        assert!(!s.matches("/var"));
        assert!(s.matches("/usr/lib/x"));
        assert!(!s.matches("/usr/bin/x"));
    }

    #[test]
    fn trailing_slash_items() {
        let s = set(&["/etc/"]);
        assert!(s.matches("/etc/passwd"));
        assert!(s.matches("/etc/ssl/certs/x.pem"));
        assert!(s.matches("/etc"));
        assert!(!s.matches("/etcetera"));
        assert!(!s.matches("/usr/etc/x"));
    }

    #[test]
    fn root_matches_everything() {
        let s = set(&["/"]);
        assert!(s.matches("/"));
        assert!(s.matches("/anything/at/all"));
        assert!(s.matches(""));
        assert!(s.matches("relative"));
    }

    #[test]
    fn empty_set_matches_nothing() {
        let s = set(&[]);
        assert!(s.is_empty());
        assert!(!s.matches("/"));
        assert!(!s.matches(""));
        assert!(!s.matches("/etc"));
        assert!(!set(&["/etc"]).is_empty());
    }

    #[test]
    fn shorter_items_cover_longer_ones_in_either_order() {
        for items in [["/usr", "/usr/lib"], ["/usr/lib", "/usr"]] {
            let s = set(&items);
            assert!(s.matches("/usr"));
            assert!(s.matches("/usr/bin/x"));
            assert!(s.matches("/usr/lib/x"));
            assert!(!s.matches("/var"));
        }
    }

    #[test]
    fn wildcard_components_stay_within_a_component() {
        let s = set(&["/home/*/.ssh"]);
        assert!(s.matches("/home/alice/.ssh"));
        assert!(s.matches("/home/alice/.ssh/authorized_keys"));
        assert!(!s.matches("/home/alice/bob/.ssh"));
        assert!(!s.matches("/home/.ssh"));
        assert!(!s.matches("/home/alice"));
        let s = set(&["/proc/[0-9]*/environ", "/var/log/?.log"]);
        assert!(s.matches("/proc/123/environ"));
        assert!(!s.matches("/proc/self/environ"));
        assert!(s.matches("/var/log/a.log"));
        assert!(!s.matches("/var/log/ab.log"));
        // `*` alone is any single component.
        let s = set(&["/*"]);
        assert!(s.matches("/x"));
        assert!(s.matches("/x/y"));
        assert!(!s.matches("/"));
    }

    #[test]
    fn literal_and_glob_siblings_both_get_tried() {
        let s = set(&["/srv/data/cache", "/srv/d*/logs", "/srv/*/tmp"]);
        assert!(s.matches("/srv/data/cache/x"));
        // The literal `data` subtree fails here; the glob siblings must still be tried.
        assert!(s.matches("/srv/data/logs/x"));
        assert!(s.matches("/srv/data/tmp"));
        assert!(s.matches("/srv/db/logs"));
        assert!(!s.matches("/srv/data/other"));
        // The first glob sibling matches `db` but its subtree fails; the second must be tried
        // against the same component (Falco would test it against `tmp`).
        assert!(s.matches("/srv/db/tmp"));
    }

    #[test]
    fn glob_metacharacters_only_make_a_component_a_glob() {
        let s = set(&["/opt/a\\b", "/opt/x\\*"]);
        assert!(s.matches("/opt/a\\b/c"));
        assert!(s.matches("/opt/x*"));
        assert!(!s.matches("/opt/xy"));
        let s = set(&["/opt/[abc"]);
        assert!(s.matches("/opt/[abc/d"));
    }

    #[test]
    fn relative_items_and_values() {
        let s = set(&["etc"]);
        assert!(s.matches("/etc/passwd"));
        assert!(s.matches("etc/passwd"));
        let s = set(&["/etc"]);
        assert!(s.matches("etc/passwd"));
        let s = set(&["anon_inode:bpf-map"]);
        assert!(s.matches("anon_inode:bpf-map"));
        assert!(!s.matches("anon_inode:bpf-prog"));
        // A `[` makes the component a glob, as in Falco: `[123]` is a class.
        let s = set(&["pipe:[123]"]);
        assert!(s.matches("pipe:2"));
        assert!(!s.matches("pipe:[123]"));
        let s = set(&["/etc"]);
        assert!(!s.matches("10.0.0.1:80->10.0.0.2:443"));
        // An empty item is the root, as in Falco.
        assert!(set(&[""]).matches("/anything"));
    }

    #[test]
    fn official_rules_lists() {
        let s = set(&["/etc/apt/sources.list.d", "/etc/yum.repos.d", "/etc/apt"]);
        assert!(s.matches("/etc/apt/sources.list.d/x.list"));
        assert!(s.matches("/etc/apt/trusted.gpg"));
        assert!(s.matches("/etc/yum.repos.d/a.repo"));
        assert!(!s.matches("/etc/yum.conf"));
        assert!(!s.matches("/etc/aptitude"));
    }

    #[test]
    fn items_are_listed_after_covering() {
        let s = set(&[
            "/etc/apt/",
            "/etc/apt/sources.list.d",
            "/home/*/.ssh",
            "//var",
        ]);
        let mut items = s.items();
        items.sort();
        assert_eq!(
            items,
            vec![vec!["etc", "apt"], vec!["home", "*", ".ssh"], vec!["var"]]
        );
        assert_eq!(set(&["/"]).items(), vec![Vec::<&str>::new()]);
        assert!(set(&[]).items().is_empty());
    }

    #[test]
    fn many_items() {
        let items: Vec<String> = (0..5000).map(|i| format!("/data/d{i}/sub")).collect();
        let s = PathSet::new(&items);
        assert!(s.matches("/data/d4999/sub/file"));
        assert!(s.matches("/data/d0/sub"));
        assert!(!s.matches("/data/d5000/sub"));
        assert!(!s.matches("/data/d1"));
    }
}
