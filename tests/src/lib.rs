//! Integration-test harness for `lanner --dump-events` (contract: docs/events.md).
//!
//! [`Sensor::start`] runs the sensor binary (`$LANNER_BIN`, default
//! `<workspace>/target/release/lanner`), collects every JSON line it prints and waits for its
//! ready file. The sensor sees the whole host, including other tests running concurrently, so
//! every predicate a test passes must select its own events by pid/tid and/or a unique marker
//! ([`unique`]). The suite assumes it runs as root in the initial pid namespace.
//!
//! Modules, all re-exported here (tests `use lanner_tests::*;`):
//! - [`sensor`]: the sensor process ([`Sensor`]) and its timeouts;
//! - [`stats`]: the counters object of `--stats-file` ([`Stats`]);
//! - [`schema`]: [`assert_schema`] and the keys documented per event type;
//! - [`event`]: accessors and assertions on one event;
//! - [`children`]: raw fork/exec helpers ([`CArgs`], [`fork_child`], [`wait_status`]);
//! - [`containers`]: cgroups named like containers' ([`CgroupJail`]) and a runc container
//!   ([`RuncContainer`]);
//! - [`host`]: the test process and its host (capabilities, tty, cgroups, [`TempDir`],
//!   [`unique`], [`now_ns`], `require_root!`);
//! - [`kubeapi`]: a fake Kubernetes API server (Pods list/watch over plain HTTP) for the
//!   pod-context tests ([`FakeApiServer`], [`pod_json`]).

pub mod children;
pub mod containers;
pub mod event;
pub mod host;
pub mod kubeapi;
pub mod mounts;
pub mod schema;
pub mod sensor;
pub mod stats;

pub use children::*;
pub use containers::*;
pub use event::*;
pub use host::*;
pub use kubeapi::*;
pub use mounts::*;
pub use schema::*;
pub use sensor::*;
pub use stats::*;
