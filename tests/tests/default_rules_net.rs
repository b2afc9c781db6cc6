//! Default rules about connections from containers: "Cloud Metadata Service Contacted from
//! Container" and "Kubernetes API Server Contacted from Container". busybox nc in a runc
//! container connects (this busybox's wget crashes before it connects, even on the host). The
//! container's network namespace has no route, so every connect fails (ENETUNREACH), which is
//! still the attempt these rules report.
//!
//! nc also raises "Network Tool Launched in Container" on its exec; these rules are about its
//! connect, a different event.

use lanner_tests::*;
use serde_json::Value;

/// `nc -w 1 <ip> <port>` in the container; the result does not matter.
fn connect(ctr: &RuncContainer, ip: &str, port: u16) -> RuncExec {
    ctr.exec(&["/bin/nc", "-w", "1", ip, &port.to_string()])
}

/// A container with the nc applet.
fn container() -> RuncContainer {
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["nc"]);
    ctr
}

/// The connect event of process `pid` to `ip`.
fn connect_to(e: &Value, pid: i64, ip: &str) -> bool {
    is_type(e, "connect") && e["proc.pid"] == pid && e["fd.sip"] == ip
}

#[test]
fn cloud_metadata_fires_for_aws_ipv4_ipv6_and_alibaba_addresses() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container();
    for ip in ["169.254.169.254", "fd00:ec2::254", "100.100.100.200"] {
        let run = connect(&ctr, ip, 80);
        let alert = sensor.wait_alert(&CLOUD_METADATA, |a| out_is(a, "proc.pid", run.pid));
        assert_out(&alert, "container.id", ctr.short_id());
        assert_out(&alert, "proc.cmdline", format!("nc -w 1 {ip} 80"));
        // server_ip/server_port: fd.name needs the local end, which a refused connect lacks.
        assert_out(&alert, "fd.sip", ip);
        assert_out(&alert, "fd.sport", 80);
        assert_out(&alert, "evt.res", "ENETUNREACH");
    }
    drop(ctr);
    sensor.stop();
}

#[test]
fn cloud_metadata_ignores_the_neighbouring_link_local_address() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container();
    // 169.254.169.253 is AWS's DNS resolver: link-local, but not the metadata service.
    let run = connect(&ctr, "169.254.169.253", 80);
    sensor.wait_for(|e| connect_to(e, run.pid, "169.254.169.253"), EVENT_TIMEOUT);
    sensor.assert_no_alert("connect to 169.254.169.253", |a| {
        a["rule"] == CLOUD_METADATA.name && out_is(a, "proc.pid", run.pid)
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn k8s_api_server_fires_for_service_ip_on_443_and_any_address_on_6443() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container();
    for (ip, port) in [
        ("10.96.0.1", 443),
        ("10.43.0.1", 6443),
        ("203.0.113.10", 6443),
    ] {
        let run = connect(&ctr, ip, port);
        let alert = sensor.wait_alert(&K8S_API_SERVER, |a| out_is(a, "proc.pid", run.pid));
        assert_out(&alert, "container.id", ctr.short_id());
        assert_out(&alert, "fd.sip", ip);
        assert_out(&alert, "fd.sport", port);
    }
    drop(ctr);
    sensor.stop();
}

#[test]
fn k8s_api_server_ignores_other_ports_and_addresses() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container();
    let mut pids = Vec::new();
    // The service IP on another port, and a neighbour of it on 443.
    for (ip, port) in [("10.96.0.1", 80), ("10.96.0.2", 443)] {
        let run = connect(&ctr, ip, port);
        sensor.wait_for(|e| connect_to(e, run.pid, ip), EVENT_TIMEOUT);
        pids.push(run.pid);
    }
    sensor.assert_no_alert("connects to non-API-server endpoints", |a| {
        a["rule"] == K8S_API_SERVER.name && pids.iter().any(|&p| out_is(a, "proc.pid", p))
    });
    drop(ctr);
    sensor.stop();
}
