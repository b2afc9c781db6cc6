//! Default rules about credential access in containers: "Service Account Token or Cloud
//! Credentials Read" (a viewer run on a token or credentials file) and "Private Key or Password
//! Search" (find/grep hunting for keys), the credential-theft steps of the security pipeline's
//! scenario. Real busybox commands in a runc container whose root holds the files.

use lanner_tests::*;

const SA_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
const AWS_CREDENTIALS: &str = "/tmp/.aws/credentials";

/// A container whose root holds a service-account token and an AWS credentials file, and the
/// busybox applets the tests run.
fn container_with_credentials() -> RuncContainer {
    let ctr = RuncContainer::start();
    ctr_applets(&ctr, &["cat", "find", "grep"]);
    write_file(
        &in_rootfs(&ctr, SA_TOKEN),
        "eyJhbGciOi.lanner-test\n",
        0o644,
    );
    write_file(
        &in_rootfs(&ctr, AWS_CREDENTIALS),
        "[default]\naws_access_key_id = AKIALANNERTEST\n",
        0o644,
    );
    write_file(
        &in_rootfs(&ctr, "/tmp/notes/readme"),
        "hello from a plain file\n",
        0o644,
    );
    ctr
}

#[test]
fn credential_read_fires_for_cat_of_service_account_token_and_aws_credentials() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container_with_credentials();
    for path in [SA_TOKEN, AWS_CREDENTIALS] {
        let run = ctr.exec(&["/bin/cat", path]);
        assert!(run.success, "{run:?}");
        let alert = sensor.wait_alert(&CREDENTIAL_READ, |a| out_is(a, "proc.pid", run.pid));
        assert_out(&alert, "container.id", ctr.short_id());
        assert_out(&alert, "proc.cmdline", format!("cat {path}"));
        assert_out(&alert, "user.name", CTR_USER);
        assert_out(&alert, "proc.pname", "runc");
    }
    // From busybox's shell, `cat` runs as busybox's applet through /proc/self/exe: comm `exe`.
    let run = ctr.exec(&["/bin/sh", "-c", &format!("cat {SA_TOKEN}; true")]);
    assert!(run.success, "{run:?}");
    let alert = sensor.wait_alert(&CREDENTIAL_READ, |a| {
        out_is(a, "proc.cmdline", format!("exe {SA_TOKEN}"))
            && out_is(a, "container.id", ctr.short_id())
    });
    assert_out(&alert, "proc.pname", "sh");
    drop(ctr);
    sensor.stop();
}

#[test]
fn credential_read_ignores_other_files_and_other_secrets_paths() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container_with_credentials();
    // A secrets mount that is not a service account, and an ordinary file.
    write_file(
        &in_rootfs(&ctr, "/var/run/secrets/lanner.io/config"),
        "x\n",
        0o644,
    );
    let mut pids = Vec::new();
    for path in ["/var/run/secrets/lanner.io/config", "/tmp/notes/readme"] {
        let run = ctr.exec(&["/bin/cat", path]);
        assert!(run.success, "{run:?}");
        sensor.wait_exec(run.pid);
        pids.push(run.pid);
    }
    sensor.assert_no_alert("cat of non-credential files", |a| {
        pids.iter().any(|&p| out_is(a, "proc.pid", p))
    });
    drop(ctr);
    sensor.stop();
}

#[test]
fn private_key_search_fires_for_find_by_key_name_and_grep_for_key_headers() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container_with_credentials();
    let find = ctr.exec(&["/bin/find", "/tmp", "-name", "id_rsa*"]);
    let alert = sensor.wait_alert(&PRIVATE_KEY_SEARCH, |a| out_is(a, "proc.pid", find.pid));
    assert_out(&alert, "container.id", ctr.short_id());
    assert_out(&alert, "proc.cmdline", "find /tmp -name id_rsa*");
    let grep = ctr.exec(&["/bin/grep", "-rl", "BEGIN OPENSSH PRIVATE KEY", "/tmp"]);
    let alert = sensor.wait_alert(&PRIVATE_KEY_SEARCH, |a| out_is(a, "proc.pid", grep.pid));
    assert_out(
        &alert,
        "proc.cmdline",
        "grep -rl BEGIN OPENSSH PRIVATE KEY /tmp",
    );
    let grep = ctr.exec(&["/bin/grep", "-ri", "password", "/tmp"]);
    let alert = sensor.wait_alert(&PRIVATE_KEY_SEARCH, |a| out_is(a, "proc.pid", grep.pid));
    assert_out(&alert, "proc.cmdline", "grep -ri password /tmp");
    drop(ctr);
    sensor.stop();
}

#[test]
fn private_key_search_ignores_ordinary_find_and_grep() {
    require_root!();
    let mut sensor = Sensor::start();
    let ctr = container_with_credentials();
    let mut pids = Vec::new();
    for argv in [
        &["/bin/find", "/tmp", "-name", "readme"][..],
        &["/bin/grep", "-r", "hello", "/tmp/notes"],
        // "password" but not recursive: a config check, not a hunt.
        &["/bin/grep", "-q", "password", "/tmp/notes/readme"],
        // Recursive, on /etc/passwd: "passwd" is not "password".
        &["/bin/grep", "-r", "root", "/etc/passwd"],
    ] {
        let run = ctr.exec(argv);
        sensor.wait_exec(run.pid);
        pids.push(run.pid);
    }
    sensor.assert_no_alert("find/grep for ordinary things", |a| {
        pids.iter().any(|&p| out_is(a, "proc.pid", p))
    });
    drop(ctr);
    sensor.stop();
}
