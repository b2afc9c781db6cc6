//! The seed document `security-monitoring.md` (not part of this repository): the Prometheus
//! alert rules and PromQL queries it gives are what users will run against the sensor's metrics,
//! so tests take them from the document itself rather than from a copy that could drift.
//!
//! Where it is: `$LANNER_SEED_DIR`, else `/work/shared/seed`, else `<workspace>/../shared/seed`.
//! The `*_from` functions parse a document's text (errors name what was not found); the others
//! read the seed and panic with that error, as test helpers do.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

pub const SEED_DOC: &str = "security-monitoring.md";

/// The directory holding the seed document; panics saying where it looked.
pub fn seed_dir() -> PathBuf {
    crate::host::shared_data_dir("LANNER_SEED_DIR", "seed", &[SEED_DOC])
}

/// The seed document's text.
pub fn seed_doc() -> String {
    let path = seed_dir().join(SEED_DOC);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The `alerts.yml` rules file of the seed's `prometheus-config` ConfigMap, as Prometheus sees it.
pub fn alerts_yml() -> String {
    expect_seed(alerts_yml_from(&seed_doc()))
}

/// The PromQL expressions under the seed's "Falco Metrics" heading.
pub fn falco_metrics_queries() -> Vec<String> {
    expect_seed(falco_metrics_queries_from(&seed_doc()))
}

/// The rules file under the seed's "Using Prometheus Recording Rules" heading, verbatim
/// (its `security:pod:risk_score` expression does not parse: `rate(...) by (pod)`).
pub fn recording_rules_yaml() -> String {
    expect_seed(recording_rules_yaml_from(&seed_doc()))
}

fn expect_seed<T>(r: Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{SEED_DOC}: {e:#}"))
}

/// `alerts.yml: |` in the yaml block defining `kind: ConfigMap` named `prometheus-config`,
/// de-indented as a YAML literal block scalar (clip chomping: one final newline).
pub fn alerts_yml_from(doc: &str) -> Result<String> {
    let configmaps: Vec<Fence> = fences(doc)
        .into_iter()
        .filter(|f| f.info == "yaml")
        .filter(|f| f.body.lines().any(|l| l.trim_end() == "kind: ConfigMap"))
        .filter(|f| {
            f.body
                .lines()
                .any(|l| l.trim() == "name: prometheus-config")
        })
        .collect();
    let cm = match configmaps.as_slice() {
        [one] => one,
        [] => bail!("no ```yaml block with a ConfigMap named prometheus-config"),
        _ => bail!(
            "{} ```yaml blocks with a ConfigMap named prometheus-config",
            configmaps.len()
        ),
    };
    block_scalar(&cm.body, "alerts.yml")
        .with_context(|| format!("in the prometheus-config ConfigMap (line {})", cm.line))
}

/// The non-empty, non-comment lines of the ```promql block under "Falco Metrics".
pub fn falco_metrics_queries_from(doc: &str) -> Result<Vec<String>> {
    let fence = fence_under(doc, "Falco Metrics", "promql")?;
    let queries: Vec<String> = fence
        .body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    if queries.is_empty() {
        bail!(
            "the ```promql block under \"Falco Metrics\" (line {}) has no query",
            fence.line
        );
    }
    Ok(queries)
}

/// The ```yaml block under "Using Prometheus Recording Rules", verbatim.
pub fn recording_rules_yaml_from(doc: &str) -> Result<String> {
    Ok(fence_under(doc, "Using Prometheus Recording Rules", "yaml")?.body)
}

/// A fenced code block: its info string (language), its lines as written (each ending in a
/// newline) and the 1-based line of its opening fence.
#[derive(Debug, Clone)]
pub struct Fence {
    pub info: String,
    pub body: String,
    pub line: usize,
}

enum Block {
    Heading { level: usize, text: String },
    Fence(Fence),
}

/// Headings (ATX, outside code) and fenced code blocks, in document order.
fn blocks(doc: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize, Fence)> = None; // (fence char, its count, block so far)
    for (i, line) in doc.lines().enumerate() {
        let trimmed = line.trim();
        if let Some((ch, n, fence)) = &mut open {
            let closes = trimmed.len() >= *n && trimmed.chars().all(|c| c == *ch);
            if closes {
                out.push(Block::Fence(fence.clone()));
                open = None;
            } else {
                fence.body.push_str(line);
                fence.body.push('\n');
            }
            continue;
        }
        for ch in ['`', '~'] {
            let n = trimmed.chars().take_while(|&c| c == ch).count();
            if n >= 3 {
                let info = trimmed[n..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string();
                open = Some((
                    ch,
                    n,
                    Fence {
                        info,
                        body: String::new(),
                        line: i + 1,
                    },
                ));
            }
        }
        if open.is_some() {
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&level) && line[level..].starts_with([' ', '\t']) {
            let text = line[level..]
                .trim()
                .trim_end_matches('#')
                .trim_end()
                .to_string();
            out.push(Block::Heading { level, text });
        }
    }
    // An unclosed fence runs to the end of the document (CommonMark).
    out.extend(open.map(|(_, _, fence)| Block::Fence(fence)));
    out
}

/// Every fenced code block of `doc`.
pub fn fences(doc: &str) -> Vec<Fence> {
    blocks(doc)
        .into_iter()
        .filter_map(|b| match b {
            Block::Fence(f) => Some(f),
            Block::Heading { .. } => None,
        })
        .collect()
}

/// The first fenced block with info string `info` in the section under the one heading whose
/// text is `heading` (up to the next heading of the same or a higher level).
pub fn fence_under(doc: &str, heading: &str, info: &str) -> Result<Fence> {
    let blocks = blocks(doc);
    let starts: Vec<usize> = (0..blocks.len())
        .filter(|&i| matches!(&blocks[i], Block::Heading { text, .. } if text == heading))
        .collect();
    let (start, level) = match starts.as_slice() {
        [i] => match &blocks[*i] {
            Block::Heading { level, .. } => (*i, *level),
            Block::Fence(_) => unreachable!("filtered on headings"),
        },
        [] => bail!("no heading {heading:?}"),
        _ => bail!("{} headings {heading:?}, expected one", starts.len()),
    };
    for block in &blocks[start + 1..] {
        match block {
            Block::Heading { level: l, .. } if *l <= level => break,
            Block::Fence(f) if f.info == info => return Ok(f.clone()),
            _ => {}
        }
    }
    bail!("no ```{info} block under heading {heading:?}")
}

/// The value of the literal block scalar `key: |` in `yaml` (found at any indentation): its
/// lines de-indented by the first content line's indentation, up to the first non-blank line
/// indented less, trailing blank lines dropped and one newline kept.
fn block_scalar(yaml: &str, key: &str) -> Result<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let header = format!("{key}: |");
    let at = lines
        .iter()
        .position(|l| l.trim() == header)
        .with_context(|| format!("no line `{header}`"))?;
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let key_indent = indent(lines[at]);
    let body = &lines[at + 1..];
    let n = body
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .filter(|&n| n > key_indent)
        .with_context(|| format!("`{header}` has no indented content"))?;
    let mut out: Vec<&str> = body
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) >= n)
        .map(|l| l.get(n..).unwrap_or(""))
        .collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    Ok(out.join("\n") + "\n")
}
