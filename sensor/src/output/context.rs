//! JSON keys for the context the enricher attached: process tree, users, container.

use serde_json::{Map, Value, json};

use crate::{
    enrich::{Ancestor, Context, PodContext},
    event::Body,
};

/// Add the context keys. Keys the event itself already set (an exec's own image, from the
/// kernel) are kept: the record is more exact than the table.
pub fn add(m: &mut Map<String, Value>, body: &Body, ctx: &Context) {
    let p = &ctx.process;
    let me = p.lineage.first();
    let parent = p.parent();
    let mut keep = |k: &str, v: Value| {
        m.entry(k.to_string()).or_insert(v);
    };
    keep("proc.ppid", json!(parent.map(|a| a.pid)));
    keep("proc.vpid", json!(p.vpid));
    keep("proc.exe", json!(me.map(|a| &a.exe)));
    keep("proc.exepath", json!(me.and_then(|a| a.exepath.as_ref())));
    keep("proc.cmdline", json!(me.map(|a| &a.cmdline)));
    keep("proc.args", json!(p.args().map(|a| a.join(" "))));
    keep("proc.cwd", json!(p.cwd()));
    m.insert("proc.pname".into(), json!(parent.map(|a| &*a.name)));
    m.insert("proc.pexe".into(), json!(parent.map(|a| &a.exe)));
    m.insert(
        "proc.pexepath".into(),
        json!(parent.and_then(|a| a.exepath.as_ref())),
    );
    m.insert("proc.pcmdline".into(), json!(parent.map(|a| &a.cmdline)));
    // Element N is Falco's `proc.aname[N]` (0 = the process itself).
    let column = |f: fn(&Ancestor) -> Value| Value::Array(p.lineage.iter().map(f).collect());
    m.insert("proc.aname".into(), column(|a| json!(&*a.name)));
    m.insert("proc.aexe".into(), column(|a| json!(a.exe)));
    m.insert("proc.aexepath".into(), column(|a| json!(a.exepath)));
    m.insert("proc.sname".into(), json!(p.sname.as_deref()));
    m.insert("proc.vpgid".into(), json!(p.vpgid));
    let vpid = match body {
        Body::Exec(e) => e.vpid,
        _ => p.vpid,
    };
    let leader = p.vpgid.zip(vpid).map(|(g, v)| g == v);
    m.insert("proc.is_vpgid_leader".into(), json!(leader));
    m.insert("proc.duration".into(), json!(p.duration_ns));
    m.insert("user.name".into(), json!(&*ctx.user.name));
    m.insert("group.name".into(), json!(&*ctx.user.group));
    m.insert("user.loginname".into(), json!(&*ctx.user.loginname));
    m.insert("container.id".into(), json!(ctx.container.short_id()));
    m.insert("container.full_id".into(), json!(ctx.container.full_id()));
    m.insert("container.type".into(), json!(ctx.container.kind()));
    add_pod(m, &ctx.pod);
}

/// Pod keys: the pod's context when found, the visible `<pending>` marker when it did not
/// arrive in time, nulls outside containers or without Kubernetes.
pub fn add_pod(m: &mut Map<String, Value>, pod: &PodContext) {
    const PENDING: &str = "<pending>";
    let (state, meta) = match pod {
        PodContext::Host => ("host", None),
        PodContext::Off => ("off", None),
        PodContext::Pending => ("pending", None),
        PodContext::Found(meta) => ("found", Some(meta)),
    };
    m.insert("lanner.pod_context".into(), json!(state));
    let marker = |v: Value| {
        if matches!(pod, PodContext::Pending) {
            json!(PENDING)
        } else {
            v
        }
    };
    let Some(p) = meta else {
        for key in ["k8s.ns.name", "k8s.pod.name"] {
            m.insert(key.into(), marker(Value::Null));
        }
        for key in [
            "k8s.pod.uid",
            "k8s.pod.labels",
            "k8s.pod.ip",
            "container.name",
            "container.image",
            "container.image.repository",
            "container.image.tag",
            "container.privileged",
            "container.mounts",
            "container.start_ts",
        ] {
            m.insert(key.into(), Value::Null);
        }
        return;
    };
    m.insert("k8s.ns.name".into(), json!(p.namespace));
    m.insert("k8s.pod.name".into(), json!(p.pod_name));
    m.insert("k8s.pod.uid".into(), json!(p.pod_uid));
    m.insert("k8s.pod.labels".into(), json!(p.labels));
    m.insert("k8s.pod.ip".into(), json!(p.pod_ip));
    m.insert("container.name".into(), json!(p.container_name));
    let image = if p.runtime_image.is_empty() {
        &p.image
    } else {
        &p.runtime_image
    };
    m.insert("container.image".into(), json!(image));
    m.insert(
        "container.image.repository".into(),
        json!(p.image_repository),
    );
    m.insert("container.image.tag".into(), json!(p.image_tag));
    m.insert("container.privileged".into(), json!(p.privileged));
    let mounts: Vec<Value> = p
        .host_path_mounts
        .iter()
        .map(|h| json!({"source": h.host_path, "dest": h.container_path, "read_only": h.read_only}))
        .collect();
    m.insert("container.mounts".into(), Value::Array(mounts));
    m.insert("container.start_ts".into(), json!(p.started_at_ns));
}
