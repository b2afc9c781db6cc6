//! A [`FakeApiServer`] driven by its own thread, with a kubeconfig for it and a node name: what
//! a test needs to run the sensor with pod context.

use std::future::Future;

use tokio::sync::oneshot;

use crate::{FakeApiServer, Sensor, TempDir, unique};

/// A [`FakeApiServer`] on a current-thread runtime driven by its own thread, a kubeconfig for it
/// in a temp dir, and the node name its pods are on.
pub struct KubeFixture {
    server: Option<FakeApiServer>,
    handle: tokio::runtime::Handle,
    quit: Option<oneshot::Sender<()>>,
    driver: Option<std::thread::JoinHandle<()>>,
    kubeconfig: String,
    /// The node the sensor watches (a unique name per fixture).
    pub node: String,
    _dir: TempDir,
}

impl KubeFixture {
    pub fn start() -> KubeFixture {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let (quit, quit_rx) = oneshot::channel::<()>();
        // Runtime::block_on on this thread drives IO and timers for every task of the runtime.
        let driver = std::thread::spawn(move || {
            rt.block_on(async move {
                let _ = quit_rx.await;
            });
        });
        let server = handle.block_on(FakeApiServer::start()).unwrap();
        let dir = TempDir::new("kubeconfig");
        let kubeconfig = server.write_kubeconfig(dir.path()).unwrap();
        KubeFixture {
            server: Some(server),
            handle,
            quit: Some(quit),
            driver: Some(driver),
            kubeconfig: kubeconfig.to_string_lossy().into_owned(),
            node: unique("node"),
            _dir: dir,
        }
    }

    pub fn fake(&self) -> &FakeApiServer {
        self.server.as_ref().unwrap()
    }

    pub fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.handle.block_on(f)
    }

    /// The sensor pointed at this server and node, with `--pod-wait-ms <wait_ms>`.
    pub fn sensor(&self, wait_ms: u64) -> Sensor {
        self.sensor_with(wait_ms, &[])
    }

    /// Like [`KubeFixture::sensor`] with more arguments.
    pub fn sensor_with(&self, wait_ms: u64, extra: &[&str]) -> Sensor {
        let wait = wait_ms.to_string();
        let mut args = vec![
            "--kubeconfig",
            &self.kubeconfig,
            "--node-name",
            &self.node,
            "--pod-wait-ms",
            &wait,
        ];
        args.extend_from_slice(extra);
        Sensor::start_with(&args)
    }
}

impl Drop for KubeFixture {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.handle.block_on(s.stop());
        }
        if let Some(q) = self.quit.take() {
            let _ = q.send(());
        }
        if let Some(d) = self.driver.take() {
            let _ = d.join();
        }
    }
}
