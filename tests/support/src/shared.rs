//! One cluster per test binary, started by the first test that asks for it.

use std::sync::{Arc, Mutex, Once, PoisonError};

use tokio::sync::OnceCell;

use crate::{Cluster, ClusterOptions, Error, TestNamespace};

/// The cluster of a test binary, declared as a `static` and started on first use.
///
/// ```no_run
/// use hotloop_testenv::{ClusterOptions, SharedCluster};
///
/// static CLUSTER: SharedCluster = SharedCluster::new(ClusterOptions::new);
///
/// #[tokio::test]
/// async fn a_config_map_can_be_created() {
///     let namespace = CLUSTER.namespace().await.expect("a test namespace");
///     // use namespace.api::<ConfigMap>() ...
/// }
/// ```
///
/// # Guarantees
/// - The first test to call [`SharedCluster::namespace`] starts the cluster; tests that ask
///   at the same time wait for it; if it fails to start, every test gets the same error
///   instead of starting it again.
/// - A local control plane is stopped when the test binary exits (a `static` is never
///   dropped, so an exit handler stops it), and killed by the kernel if the binary is killed.
///
/// # Caveats
/// Tests runners that start one process per test (such as nextest) start one control plane
/// per test: correct, but slow. `cargo test` runs a whole test binary in one process.
#[derive(Debug)]
pub struct SharedCluster {
    options: fn() -> ClusterOptions,
    cluster: OnceCell<Result<Cluster, Arc<Error>>>,
}

impl SharedCluster {
    /// A cluster started, on first use, with the options that `options` returns.
    pub const fn new(options: fn() -> ClusterOptions) -> Self {
        SharedCluster { options, cluster: OnceCell::const_new() }
    }

    /// The cluster, started when this is the first call.
    pub async fn get(&'static self) -> Result<&'static Cluster, Error> {
        let started = self.cluster.get_or_init(|| self.start()).await;
        started.as_ref().map_err(|error| Error::SharedStartFailed(Arc::clone(error)))
    }

    /// A fresh namespace for the calling test, in the cluster.
    pub async fn namespace(&'static self) -> Result<TestNamespace<'static>, Error> {
        self.get().await?.namespace().await
    }

    async fn start(&'static self) -> Result<Cluster, Arc<Error>> {
        let cluster = Cluster::start(&(self.options)()).await.map_err(Arc::new)?;
        stop_at_exit(self);
        Ok(cluster)
    }
}

static STOP_AT_EXIT: Mutex<Vec<&'static SharedCluster>> = Mutex::new(Vec::new());

fn stop_at_exit(shared: &'static SharedCluster) {
    STOP_AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner).push(shared);
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        #[allow(unsafe_code, reason = "atexit is the only hook that runs when a test binary exits")]
        // SAFETY: `stop_shared_clusters` is a plain function that never unwinds.
        unsafe {
            nix::libc::atexit(stop_shared_clusters);
        }
    });
}

extern "C" fn stop_shared_clusters() {
    // Unwinding out of an exit handler would abort; stopping is best effort anyway.
    let _ = std::panic::catch_unwind(|| {
        let shared = STOP_AT_EXIT.lock().unwrap_or_else(PoisonError::into_inner);
        for cluster in shared.iter() {
            if let Some(Ok(Cluster::Local(plane))) = cluster.cluster.get() {
                plane.stop();
            }
        }
    });
}
