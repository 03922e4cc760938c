//! A fresh namespace per test.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client, Resource};

use crate::{Cluster, Error, pki};

/// The label on every namespace this crate creates, to find leftovers in an existing cluster.
pub const NAMESPACE_LABEL: &str = "hotloop.dev/testenv";

/// How long deleting a namespace at the end of a test may take before it is given up.
const DELETE_TIMEOUT: Duration = Duration::from_secs(10);

/// A namespace created for one test, with a client for it.
///
/// When it is dropped normally the namespace is deleted (without waiting for it to go). When it
/// is dropped because the test panicked, it is kept, the control plane's logs are kept, and
/// their paths are printed. A test that fails by returning an error is not noticed: fail tests
/// by panicking (`assert!`, `expect`).
pub struct TestNamespace<'c> {
    cluster: &'c Cluster,
    client: Client,
    name: String,
}

impl std::fmt::Debug for TestNamespace<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<'c> TestNamespace<'c> {
    pub(crate) async fn create(cluster: &'c Cluster) -> Result<Self, Error> {
        let client = cluster.client()?;
        let name = name_for_test(std::thread::current().name());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(NAMESPACE_LABEL.to_string(), "true".to_string())])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces.create(&PostParams::default(), &namespace).await.map_err(|source| {
            Error::Request { action: format!("create the namespace {name}"), source }
        })?;
        Ok(TestNamespace { cluster, client, name })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A client for the cluster, on the runtime the namespace was created in.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An API for namespaced objects of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// The cluster the namespace is in.
    pub fn cluster(&self) -> &'c Cluster {
        self.cluster
    }
}

impl Drop for TestNamespace<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.cluster.report_failure(&self.name);
            return;
        }
        // Drop cannot await, and the test's runtime may be shutting down: delete from a thread
        // with a runtime of its own.
        let config = self.cluster.config().clone();
        let name = self.name.clone();
        let deleting = std::thread::spawn(move || delete_namespace(config, &name));
        let _ = deleting.join();
    }
}

fn delete_namespace(config: kube::Config, name: &str) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return;
    };
    runtime.block_on(async {
        let Ok(client) = Client::try_from(config) else { return };
        let namespaces: Api<Namespace> = Api::all(client);
        let params = DeleteParams::background();
        let _ = tokio::time::timeout(DELETE_TIMEOUT, namespaces.delete(name, &params)).await;
    });
}

/// A namespace name made from the test's thread name (the test's path), with a random suffix
/// so that reruns against an existing cluster do not collide.
fn name_for_test(thread_name: Option<&str>) -> String {
    let test = thread_name.and_then(|name| name.rsplit("::").next()).unwrap_or("test");
    let mut name: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    name.truncate(55);
    let name = name.trim_matches('-');
    let name = if name.is_empty() || name == "main" { "test" } else { name };
    format!("{name}-{}", pki::random_suffix())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_named_after_its_test() {
        let name = name_for_test(Some("proofs::a_watch_sees_an_update"));
        assert!(name.starts_with("a-watch-sees-an-update-"), "{name}");
        assert_eq!(name.len(), "a-watch-sees-an-update-".len() + 6);
    }

    #[test]
    fn a_long_test_name_still_makes_a_valid_namespace_name() {
        let name = name_for_test(Some(&"x_".repeat(100)));
        assert!(name.len() <= 63, "{name} is longer than a DNS label");
        assert!(!name.contains("--"), "{name}");
    }

    #[test]
    fn a_thread_without_a_name_gets_a_generic_namespace() {
        assert!(name_for_test(None).starts_with("test-"));
    }
}
