//! Installing CustomResourceDefinitions and waiting until they are served.

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::Error;

/// The field manager of everything this crate writes.
pub const FIELD_MANAGER: &str = "hotloop-testenv";

/// Applies every CRD (server-side, taking over conflicting fields), then waits until each is
/// Established, that is, served by the API server.
pub(crate) async fn install(
    client: &kube::Client,
    crds: &[CustomResourceDefinition],
    timeout: Duration,
) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &params, &Patch::Apply(crd))
            .await
            .map_err(|source| Error::ApplyCrd { name: name.clone(), source })?;
    }
    for crd in crds {
        wait_established(&api, crd.metadata.name.as_deref().unwrap_or_default(), timeout).await?;
    }
    Ok(())
}

async fn wait_established(
    api: &Api<CustomResourceDefinition>,
    name: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let started = Instant::now();
    loop {
        let last_seen = match api.get(name).await {
            Ok(crd) if is_established(&crd) => return Ok(()),
            Ok(crd) => conditions(&crd),
            Err(error) => error.to_string(),
        };
        if started.elapsed() >= timeout {
            let waited = started.elapsed();
            return Err(Error::CrdNotEstablished { name: name.to_string(), waited, last_seen });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn is_established(crd: &CustomResourceDefinition) -> bool {
    let conditions = crd.status.as_ref().and_then(|status| status.conditions.as_ref());
    conditions.into_iter().flatten().any(|c| c.type_ == "Established" && c.status == "True")
}

fn conditions(crd: &CustomResourceDefinition) -> String {
    let conditions = crd.status.as_ref().and_then(|status| status.conditions.as_ref());
    let described: Vec<String> = conditions
        .into_iter()
        .flatten()
        .map(|c| format!("{}={} ({})", c.type_, c.status, c.message.as_deref().unwrap_or("")))
        .collect();
    if described.is_empty() { "no conditions".to_string() } else { described.join(", ") }
}
