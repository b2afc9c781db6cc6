//! Integration-test harness for `lanner --dump-events` (contract: docs/events.md).
//!
//! [`Sensor::start`] runs the sensor binary (`$LANNER_BIN`, default
//! `<workspace>/target/release/lanner`), collects every JSON line it prints and waits for its
//! ready file. The sensor sees the whole host, including other tests running concurrently, so
//! every predicate a test passes must select its own events by pid/tid and/or a unique marker
//! ([`unique`]). The suite assumes it runs as root in the initial pid namespace.
//!
//! Modules, all re-exported here (tests `use lanner_tests::*;`):
//! - [`alerts`]: alert lines (Falco's schema), waiting for one and asserting none came;
//! - [`default_ruleset`]: names, priorities and tags of the default rules;
//! - [`rootfs`]: busybox applets, scripts and files in a container's root or a host dir;
//! - [`official`]: where the official Falco rules files are;
//! - [`terminal`]: `runc exec --tty` with a pseudo-terminal;
//! - [`sensor`]: the sensor process ([`Sensor`]) and its timeouts;
//! - [`stats`]: the counters object of `--stats-file` ([`Stats`]);
//! - [`schema`]: [`assert_schema`] and the keys documented per event type;
//! - [`event`]: accessors and assertions on one event;
//! - [`children`]: raw fork/exec helpers ([`CArgs`], [`fork_child`], [`wait_status`]);
//! - [`containers`]: cgroups named like containers' ([`CgroupJail`]) and a runc container
//!   ([`RuncContainer`]);
//! - [`host`]: the test process and its host (capabilities, tty, cgroups, [`TempDir`],
//!   [`unique`], [`now_ns`], `require_root!`);
//! - [`hostile_rules`]: rules files that attack the loader (a macro bomb, a long condition;
//!   not re-exported);
//! - [`kubeapi`]: a fake Kubernetes API server (Pods list/watch over plain HTTP) for the
//!   pod-context tests ([`FakeApiServer`], [`pod_json`]);
//! - [`prometheus`]: a real Prometheus scraping test targets, promtool checks, a minimal HTTP
//!   client (not re-exported: `use lanner_tests::prometheus::*;`);
//! - [`receivers`]: fake Fluentd `in_http` and Elasticsearch `_bulk` receivers with failure
//!   injection, and a minimal keep-alive HTTP client (not re-exported:
//!   `use lanner_tests::receivers::*;`);
//! - [`sinks`]: what the alert-sink tests share (a marker's rules file, alert bursts, the
//!   sinks' counters, a sensor's metrics and RSS; not re-exported: `use lanner_tests::sinks::*;`);
//! - [`tcp`]: raw TCP clients from chosen loopback addresses, for the endpoint's limits (not
//!   re-exported: `use lanner_tests::tcp::*;`);
//! - [`privilege`]: ptrace, setuid, setns, unshare, bpf, userfaultfd and module loads made
//!   for real, a child to trace (not re-exported: `use lanner_tests::privilege::*;`);
//! - [`prefilter`]: what the in-kernel prefilter's tests share (a metric sample, a comm of
//!   the test's own; not re-exported: `use lanner_tests::prefilter::*;`);
//! - [`seed`]: the Prometheus rules and queries of the seed document `security-monitoring.md`
//!   (not re-exported: `lanner_tests::seed::alerts_yml()` …).

pub mod alerts;
pub mod children;
pub mod containers;
pub mod default_ruleset;
pub mod deploy;
pub mod event;
pub mod fuse;
pub mod host;
pub mod hostile_rules;
pub mod kube_fixture;
pub mod kubeapi;
pub mod monitoring;
pub mod mounts;
pub mod official;
pub mod prefilter;
pub mod privilege;
pub mod prometheus;
pub mod receivers;
pub mod rootfs;
pub mod schema;
pub mod seed;
pub mod sensor;
pub mod sinks;
pub mod stats;
pub mod tcp;
pub mod terminal;
pub mod tls_proxy;

pub use alerts::*;
pub use children::*;
pub use containers::*;
pub use default_ruleset::*;
pub use event::*;
pub use host::*;
pub use kubeapi::*;
pub use mounts::*;
pub use official::*;
pub use rootfs::*;
pub use schema::*;
pub use sensor::*;
pub use stats::*;
pub use terminal::*;
