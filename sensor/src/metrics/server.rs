//! The HTTP endpoint (falco-exporter's port, 9376, by default): `/metrics`, `/healthz` and
//! `/readyz` (`routes.rs`).
//!
//! Anyone who can reach the port is a client, so every resource a client can hold has a budget
//! ([`Limits`]): a connection must send its request head within `header_read_timeout` (idle
//! keep-alive connections included, and a client dripping a byte a second), lives at most
//! `connection_lifetime` whatever it does, and sends at most `max_header_bytes` of head. Past
//! `max_connections` open connections, or `max_per_peer` from one address, a new connection is
//! closed as soon as it is accepted and counted. The caps keep the sensor's descriptors for its
//! real work (the sinks and the Kubernetes client connect out; the probes, maps and `/proc` reads
//! hold descriptors too) and keep one noisy client from starving the kubelet's probes and the
//! Prometheus scrape, which come from other addresses.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use anyhow::Context as _;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::{Metrics, routes, text::Exposition};

/// What one client may hold of the endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at most; a Prometheus scrape and the kubelet's three probes need a few.
    pub max_connections: usize,
    /// Open connections from one address at most, so one client cannot take every slot.
    pub max_per_peer: usize,
    /// Time a connection gets to send a request head, counted from the accept and again from
    /// each response (an idle keep-alive connection is closed after it).
    pub header_read_timeout: Duration,
    /// Longest life of a connection, however busy (a client that stops reading a response
    /// holds it until then).
    pub connection_lifetime: Duration,
    /// Request line and headers, in bytes (431 beyond). Requests carry no body here.
    pub max_header_bytes: usize,
    /// Headers in one request (431 beyond).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 64,
            max_per_peer: 8,
            header_read_timeout: Duration::from_secs(5),
            connection_lifetime: Duration::from_secs(30),
            max_header_bytes: 8 * 1024,
            max_headers: 32,
        }
    }
}

/// hyper's smallest read buffer cap; the head limit is enforced separately, below it.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// The endpoint's own counters (`lanner_metrics_connections*`).
#[derive(Debug, Default)]
pub struct ConnCounters {
    /// Connections open now.
    pub open: AtomicU64,
    /// Closed at accept: `max_connections` reached.
    pub rejected_total_cap: AtomicU64,
    /// Closed at accept: `max_per_peer` reached for that address.
    pub rejected_peer_cap: AtomicU64,
    /// Closed by the server for not sending a request head in time.
    pub header_timeouts: AtomicU64,
    /// Closed by the server at `connection_lifetime`.
    pub lifetime_expired: AtomicU64,
}

impl ConnCounters {
    pub fn render(&self, out: &mut Exposition) {
        out.single(
            "lanner_metrics_connections",
            "Connections open to the metrics endpoint",
            "gauge",
            self.open.load(Relaxed) as f64,
        );
        let name = "lanner_metrics_connections_closed_total";
        out.family(
            name,
            "Connections to the metrics endpoint the sensor closed itself, per reason: over the connection cap or the per-address cap (closed at accept), no request head within the header timeout, at the end of the connection lifetime",
            "counter",
        );
        for (reason, n) in [
            ("max_connections", &self.rejected_total_cap),
            ("max_per_peer", &self.rejected_peer_cap),
            ("header_timeout", &self.header_timeouts),
            ("lifetime", &self.lifetime_expired),
        ] {
            out.sample(name, &[("reason", reason)], n.load(Relaxed) as f64);
        }
    }
}

/// Bind now (so a port conflict fails the start-up with its address) and serve until `stop`.
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics endpoint: binding {addr} (exporter.listen_address)"))
}

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let slots = Arc::new(Slots::new(limits, metrics.conns.clone()));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(READ_BUFFER_BYTES)
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: the caps should prevent it; back off, never spin.
                    log::warn!("metrics endpoint: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // Over a cap: dropped here, closed at once, before any byte is read.
        let Some(slot) = slots.admit(peer.ip()) else {
            continue;
        };
        let metrics = metrics.clone();
        let conns = metrics.conns.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(routes::respond(&req, &metrics)) }
            }),
        );
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(limits.connection_lifetime, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_timeout() => {
                    conns.header_timeouts.fetch_add(1, Relaxed);
                }
                Ok(Err(e)) => log::debug!("metrics endpoint: connection from {peer}: {e}"),
                Err(_) => {
                    conns.lifetime_expired.fetch_add(1, Relaxed);
                }
            }
        });
    }
}

/// The open connections, in all and per address.
struct Slots {
    limits: Limits,
    per_peer: Mutex<HashMap<IpAddr, usize>>,
    counters: Arc<ConnCounters>,
}

/// One admitted connection; gives its place back when dropped.
struct Slot {
    slots: Arc<Slots>,
    peer: IpAddr,
}

impl Slots {
    fn new(limits: Limits, counters: Arc<ConnCounters>) -> Self {
        Slots {
            limits,
            per_peer: Mutex::default(),
            counters,
        }
    }

    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        // An IPv4 client of a dual-stack socket is one peer whichever form it arrives in.
        let peer = peer.to_canonical();
        let mut per_peer = lock(&self.per_peer);
        let open: usize = per_peer.values().sum();
        if open >= self.limits.max_connections {
            self.counters.rejected_total_cap.fetch_add(1, Relaxed);
            return None;
        }
        let mine = per_peer.entry(peer).or_insert(0);
        if *mine >= self.limits.max_per_peer {
            self.counters.rejected_peer_cap.fetch_add(1, Relaxed);
            return None;
        }
        *mine += 1;
        self.counters.open.fetch_add(1, Relaxed);
        Some(Slot {
            slots: self.clone(),
            peer,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_peer = lock(&self.slots.per_peer);
        if let Some(n) = per_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                per_peer.remove(&self.peer);
            }
        }
        self.slots.counters.open.fetch_sub(1, Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The address a listener got (for port 0).
pub fn local_addr(l: &TcpListener) -> Option<SocketAddr> {
    l.local_addr().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(max_connections: usize, max_per_peer: usize) -> Arc<Slots> {
        let limits = Limits {
            max_connections,
            max_per_peer,
            ..Limits::default()
        };
        Arc::new(Slots::new(limits, Arc::default()))
    }

    #[test]
    fn caps_in_all_and_per_peer_and_slots_come_back() {
        let s = slots(3, 2);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = s.admit(a).unwrap();
        let _a2 = s.admit(a).unwrap();
        assert!(s.admit(a).is_none(), "third from one peer");
        let _b1 = s.admit(b).unwrap();
        assert!(s.admit(b).is_none(), "fourth in all");
        assert_eq!(s.counters.rejected_peer_cap.load(Relaxed), 1);
        assert_eq!(s.counters.rejected_total_cap.load(Relaxed), 1);
        assert_eq!(s.counters.open.load(Relaxed), 3);
        drop(a1);
        assert_eq!(s.counters.open.load(Relaxed), 2);
        assert!(s.admit(b).is_some(), "a freed slot is taken again");
    }

    #[test]
    fn a_v4_mapped_address_is_the_same_peer() {
        let s = slots(10, 1);
        let _v4 = s.admit("10.0.0.1".parse().unwrap()).unwrap();
        assert!(s.admit("::ffff:10.0.0.1".parse().unwrap()).is_none());
    }
}
