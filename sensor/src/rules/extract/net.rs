//! `fd.*` of a connect's socket (falco-fields.md 1.5); the other network calls' are in
//! `net_fd.rs`.
//!
//! For connect the client is this side and the server the peer, and the local side is this
//! one: `fd.cip`/`fd.lip` are the local address, `fd.sip`/`fd.rip` the peer. An IPv4-mapped
//! IPv6 pair is shown as IPv4 (the fd is then `ipv4`), as Falco does. `fd.ip`, `fd.port` and
//! `fd.*net` are answered by the engine from the c/s/l/r fields, so they have no value here.

use std::{borrow::Cow, net::IpAddr};

use lanner_rules::{Field, Value};

use super::{EventView, int, s};
use crate::event::{Connect, L4, Peer};

/// `ip` as IPv4 if it is an IPv4-mapped IPv6 address.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_mapped(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// An IP connect's endpoints.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ends {
    local: (IpAddr, u16),
    peer: (IpAddr, u16),
}

impl<'a> EventView<'a> {
    fn connect(&self) -> Option<&'a Connect> {
        match &self.ev.event.body {
            crate::event::Body::Connect(c) => Some(c),
            _ => None,
        }
    }

    /// Computed once per event: every `fd.*` field of a connect starts here.
    fn ends(&self) -> Option<Ends> {
        *self.ends.get_or_init(|| self.compute_ends())
    }

    #[inline]
    fn compute_ends(&self) -> Option<Ends> {
        let c = self.connect()?;
        let Peer::Inet(ip, port) = c.peer else {
            return None;
        };
        // Only a pair that is mapped on both known sides becomes IPv4.
        let v4 = is_mapped(ip) && c.local.is_none_or(|(l, _)| is_mapped(l));
        let conv = |a: IpAddr| if v4 { unmap(a) } else { a };
        // A socket the kernel never bound (a connect that failed before choosing a source
        // address) has the unspecified local address and port 0: what Falco's driver reads from
        // the socket too, so `fd.name` is `0.0.0.0:0->…` rather than missing.
        let peer = (conv(ip), port);
        let unbound = match peer.0 {
            IpAddr::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        Some(Ends {
            local: c.local.map_or((unbound, 0), |(l, p)| (conv(l), p)),
            peer,
        })
    }

    /// `fd.name`: `lip:lport->sip:sport` (no brackets around IPv6), or the unix socket's path.
    pub(super) fn fd_name(&self) -> Option<&str> {
        self.fd_name
            .get_or_init(|| {
                if let Some(n) = self.net_fd() {
                    return n.name();
                }
                match &self.connect()?.peer {
                    Peer::Inet(..) => {
                        let e = self.ends()?;
                        let (lip, lport) = e.local;
                        let (sip, sport) = e.peer;
                        Some(format!("{lip}:{lport}->{sip}:{sport}"))
                    }
                    Peer::Unix(path) => Some(path.clone()),
                    Peer::Other(_) | Peer::Unknown => None,
                }
            })
            .as_deref()
    }

    fn typechar(&self) -> Option<&'static str> {
        match &self.connect()?.peer {
            Peer::Inet(..) => Some(if self.ends()?.peer.0.is_ipv4() {
                "4"
            } else {
                "6"
            }),
            Peer::Unix(_) => Some("u"),
            Peer::Other(_) | Peer::Unknown => None,
        }
    }

    fn l4proto(&self) -> Option<&'static str> {
        let c = self.connect()?;
        Some(match (&c.peer, c.l4) {
            (Peer::Inet(..), Some(L4::Tcp)) => "tcp",
            (Peer::Inet(..), Some(L4::Udp)) => "udp",
            (Peer::Inet(..), Some(L4::Raw)) => "raw",
            _ => "<NA>",
        })
    }

    /// The tag of an fd parameter (`<4t>`, `<6u>`, `<u>`): typechar, then the L4 protocol's
    /// letter for IP sockets.
    pub(super) fn fd_tag(&self) -> Option<String> {
        if let Some(n) = self.net_fd() {
            return n.tag();
        }
        let tc = self.typechar()?;
        let l4 = match self.l4proto() {
            Some("tcp") => "t",
            Some("udp") => "u",
            Some("raw") => "r",
            _ => "",
        };
        Some(format!("{tc}{l4}"))
    }

    /// `evt.arg.addr` of connect: the address connected to.
    pub(super) fn peer_addr(&self) -> Option<Cow<'_, str>> {
        match &self.connect()?.peer {
            Peer::Inet(..) => {
                let (ip, port) = self.ends()?.peer;
                Some(Cow::Owned(format!("{ip}:{port}")))
            }
            Peer::Unix(path) => Some(Cow::Borrowed(path)),
            Peer::Other(_) | Peer::Unknown => None,
        }
    }

    pub(super) fn fd_field(&self, field: Field) -> Option<Value<'_>> {
        if let Some(n) = self.net_fd() {
            return self.net_fd_field(n, field);
        }
        let c = self.connect()?;
        let local = || Some(self.ends()?.local);
        let peer = || Some(self.ends()?.peer);
        Some(match field {
            Field::FdNum => int(c.fd),
            Field::FdName => s(self.fd_name()?),
            Field::FdType => s(match &c.peer {
                Peer::Inet(..) => match self.typechar()? {
                    "4" => "ipv4",
                    _ => "ipv6",
                },
                Peer::Unix(_) => "unix",
                Peer::Other(_) | Peer::Unknown => return None,
            }),
            Field::FdTypechar => s(self.typechar()?),
            Field::FdSockfamily => s(match &c.peer {
                Peer::Inet(..) => "ip",
                Peer::Unix(_) => "unix",
                Peer::Other(_) | Peer::Unknown => return None,
            }),
            Field::FdL4proto => s(self.l4proto()?),
            // Connected once connect succeeded or is in progress (EINPROGRESS).
            Field::FdConnected => Value::Bool(c.ret == 0 || c.ret == -115),
            // Falco sets it when a send names a new peer; connect is not such a change.
            Field::FdNameChanged => Value::Bool(false),
            Field::FdCip | Field::FdLip => Value::Ip(local()?.0),
            Field::FdSip | Field::FdRip => Value::Ip(peer()?.0),
            Field::FdCport | Field::FdLport => Value::Uint(u64::from(local()?.1)),
            Field::FdSport | Field::FdRport => Value::Uint(u64::from(peer()?.1)),
            _ => return None,
        })
    }
}
