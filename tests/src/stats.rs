//! The counters object of `--stats-file` (docs/events.md, "Counters").

use serde_json::Value;

/// Event kinds of the counters object.
pub const KINDS: [&str; 9] = [
    "exec",
    "mount",
    "connect",
    "fork",
    "exit",
    "privilege",
    "net_fd",
    "open",
    "file_change",
];

/// Paths counted in `paths_truncated`.
pub const PATHS: [&str; 6] = [
    "exepath",
    "cwd",
    "exec_filename",
    "mount_source",
    "mount_target",
    "file_path",
];

/// The counters object of `--stats-file`.
#[derive(Debug, Clone)]
pub struct Stats {
    pub raw: Value,
}

impl Stats {
    /// Parses and checks the shape documented in docs/events.md.
    pub fn parse(text: &str) -> Result<Stats, String> {
        let raw: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let s = Stats { raw };
        let int = |v: &Value, what: String| {
            v.as_u64()
                .map(|_| ())
                .ok_or(format!("{what} is not an unsigned integer"))
        };
        for k in KINDS {
            int(&s.raw["events"][k], format!("events.{k}"))?;
            for r in ["ringbuf_full", "truncated", "read_failed", "dropped"] {
                int(&s.raw["lost"][k][r], format!("lost.{k}.{r}"))?;
            }
        }
        int(
            &s.raw["user_lost"]["decode_error"],
            "user_lost.decode_error".into(),
        )?;
        for p in PATHS {
            int(&s.raw["paths_truncated"][p], format!("paths_truncated.{p}"))?;
        }
        Ok(s)
    }
    /// Events delivered with `path` (one of [`PATHS`]) cut short.
    pub fn paths_truncated(&self, path: &str) -> u64 {
        self.raw["paths_truncated"][path].as_u64().unwrap()
    }
    pub fn events(&self, kind: &str) -> u64 {
        self.raw["events"][kind].as_u64().unwrap()
    }
    pub fn lost(&self, kind: &str, reason: &str) -> u64 {
        self.raw["lost"][kind][reason].as_u64().unwrap()
    }
    pub fn user_lost(&self, reason: &str) -> u64 {
        self.raw["user_lost"][reason].as_u64().unwrap()
    }
    /// Events of `kind` that are gone: kernel-side reservation failures and dropped records,
    /// plus every user-side drop (user-side counters are not per kind, so they all count).
    pub fn gone(&self, kind: &str) -> u64 {
        self.lost(kind, "ringbuf_full")
            + self.lost(kind, "dropped")
            + self.user_lost("decode_error")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stats_json() -> Value {
        let lost = json!({"ringbuf_full": 1, "truncated": 2, "read_failed": 0, "dropped": 5});
        json!({
            "events": {"exec": 5, "mount": 0, "connect": 0, "fork": 0, "exit": 0, "privilege": 0,
                       "net_fd": 0, "open": 0, "file_change": 0},
            "lost": {"exec": lost, "mount": lost, "connect": lost, "fork": lost, "exit": lost,
                     "privilege": lost, "net_fd": lost, "open": lost, "file_change": lost},
            "user_lost": {"decode_error": 3},
            "paths_truncated": {"exepath": 1, "cwd": 0, "exec_filename": 0, "mount_source": 0,
                                "mount_target": 0, "file_path": 0},
        })
    }

    #[test]
    fn stats_parse_checks_the_documented_shape() {
        let s = Stats::parse(&stats_json().to_string()).unwrap();
        assert_eq!(s.events("exec"), 5);
        assert_eq!(s.lost("exec", "truncated"), 2);
        assert_eq!(s.gone("exec"), 1 + 5 + 3);
        assert_eq!(s.paths_truncated("exepath"), 1);
        let mut bad = stats_json();
        bad["lost"]["fork"]
            .as_object_mut()
            .unwrap()
            .remove("read_failed");
        assert!(
            Stats::parse(&bad.to_string())
                .unwrap_err()
                .contains("lost.fork.read_failed")
        );
    }
}
