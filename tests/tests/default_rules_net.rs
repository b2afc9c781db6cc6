//! Default rules about connections from containers: "Cloud Metadata Service Contacted from
//! Container" and "Kubernetes API Server Contacted from Container". busybox wget in a runc
//! container connects; the container's network namespace has no route, so every connect
//! fails (ENETUNREACH), which is still the attempt these rules report.

use lanner_tests::*;
use serde_json::Value;

/// `wget <url>` in the container (one try, short timeout); the result does not matter.
fn wget(ctr: &RuncContainer, url: &str) -> RuncExec {
    ctr.exec(&["/bin/wget", "-q", "-T", "2", "-O", "/dev/null", url])
}

/// A container with the wget applet.
fn container() -> RuncContainer {
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["wget"]);
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
    for (url, ip) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("http://[fd00:ec2::254]/latest/meta-data/", "fd00:ec2::254"),
        (
            "http://100.100.100.200/latest/meta-data/",
            "100.100.100.200",
        ),
    ] {
        let run = wget(&ctr, url);
        let alert = sensor.wait_alert(&CLOUD_METADATA, |a| out_is(a, "proc.pid", run.pid));
        assert_out(&alert, "container.id", ctr.short_id());
        assert_out_contains(&alert, "fd.name", &format!("{ip}:80"));
        assert_out_contains(&alert, "proc.cmdline", url);
        assert!(
            out(&alert, "evt.res").is_string(),
            "res=%evt.res says how the attempt went\nalert: {alert:#}"
        );
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
    let run = wget(&ctr, "http://169.254.169.253/");
    sensor.wait_for(|e| connect_to(e, run.pid, "169.254.169.253"), EVENT_TIMEOUT);
    sensor.assert_no_alert("connect to 169.254.169.253", |a| {
        out_is(a, "proc.pid", run.pid)
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn k8s_api_server_fires_for_service_ip_on_443_and_any_address_on_6443() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container();
    for (url, name) in [
        ("http://10.96.0.1:443/api", "10.96.0.1:443"),
        ("http://10.43.0.1:6443/api", "10.43.0.1:6443"),
        ("http://203.0.113.10:6443/api", "203.0.113.10:6443"),
    ] {
        let run = wget(&ctr, url);
        let alert = sensor.wait_alert(&K8S_API_SERVER, |a| out_is(a, "proc.pid", run.pid));
        assert_out(&alert, "container.id", ctr.short_id());
        assert_out_contains(&alert, "fd.name", name);
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
    for (url, ip) in [
        // The service IP on another port, and a neighbour of it on 443.
        ("http://10.96.0.1:80/", "10.96.0.1"),
        ("http://10.96.0.2:443/", "10.96.0.2"),
    ] {
        let run = wget(&ctr, url);
        sensor.wait_for(|e| connect_to(e, run.pid, ip), EVENT_TIMEOUT);
        pids.push(run.pid);
    }
    sensor.assert_no_alert("connects to non-API-server endpoints", |a| {
        pids.iter().any(|&p| out_is(a, "proc.pid", p))
    });
    drop(ctr);
    sensor.stop();
}
