//! What a cluster is started with.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;

use crate::Error;

/// How long each step of the start may take by default: etcd becoming healthy, the API server
/// becoming ready, each CRD becoming Established, the garbage collector starting to collect.
/// Generous, because a 2-core machine that is also compiling is slow.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Options for a cluster: the CRDs to install and how long starting may take.
///
/// CRDs are installed before the controller manager starts, so the garbage collector knows
/// their kinds from the start (it looks for new kinds only every 30 seconds).
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    crds: Vec<CrdSource>,
    startup_timeout: Duration,
}

#[derive(Debug, Clone)]
enum CrdSource {
    Object(Box<CustomResourceDefinition>),
    Json(serde_json::Value),
    Yaml(String),
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions { crds: Vec::new(), startup_timeout: DEFAULT_STARTUP_TIMEOUT }
    }
}

impl ClusterOptions {
    /// Options with no CRDs and [`DEFAULT_STARTUP_TIMEOUT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs `crd`, for example one made by `#[derive(CustomResource)]` with `Kind::crd()`.
    pub fn crd(mut self, crd: CustomResourceDefinition) -> Self {
        self.crds.push(CrdSource::Object(Box::new(crd)));
        self
    }

    /// Installs the CRD in `crd`, a JSON value.
    pub fn crd_json(mut self, crd: serde_json::Value) -> Self {
        self.crds.push(CrdSource::Json(crd));
        self
    }

    /// Installs the CRDs in `yaml`, one per YAML document (`---` separates them).
    pub fn crd_yaml(mut self, yaml: impl Into<String>) -> Self {
        self.crds.push(CrdSource::Yaml(yaml.into()));
        self
    }

    /// Sets how long each step of the start may take.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// How long each step of the start may take.
    pub fn timeout(&self) -> Duration {
        self.startup_timeout
    }

    /// Every CRD of these options, parsed. Fails on the first that is not a CRD.
    pub fn crds(&self) -> Result<Vec<CustomResourceDefinition>, Error> {
        let mut crds = Vec::new();
        for source in &self.crds {
            match source {
                CrdSource::Object(crd) => crds.push(crd.as_ref().clone()),
                CrdSource::Json(value) => crds.push(parse(value.clone(), crds.len() + 1)?),
                CrdSource::Yaml(text) => {
                    for document in serde_yaml_ng::Deserializer::from_str(text) {
                        let index = crds.len() + 1;
                        let value = serde_json::Value::deserialize(document)
                            .map_err(|error| invalid(index, error))?;
                        if !value.is_null() {
                            crds.push(parse(value, index)?);
                        }
                    }
                }
            }
        }
        Ok(crds)
    }
}

fn parse(value: serde_json::Value, index: usize) -> Result<CustomResourceDefinition, Error> {
    CustomResourceDefinition::deserialize(value).map_err(|error| invalid(index, error))
}

fn invalid(index: usize, error: impl std::fmt::Display) -> Error {
    Error::InvalidCrd { index, reason: error.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CRDS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ones.example.hotloop.dev}
spec:
  group: example.hotloop.dev
  scope: Namespaced
  names: {plural: ones, singular: one, kind: One}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: twos.example.hotloop.dev}
spec:
  group: example.hotloop.dev
  scope: Namespaced
  names: {plural: twos, singular: two, kind: Two}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"#;

    #[test]
    fn a_multi_document_yaml_gives_one_crd_per_document() {
        let crds = ClusterOptions::new().crd_yaml(TWO_CRDS).crds().expect("valid CRDs");
        let names: Vec<_> = crds.iter().filter_map(|crd| crd.metadata.name.clone()).collect();
        assert_eq!(names, ["ones.example.hotloop.dev", "twos.example.hotloop.dev"]);
    }

    #[test]
    fn a_json_value_that_is_no_crd_is_reported_with_its_position() {
        let options = ClusterOptions::new()
            .crd_yaml(TWO_CRDS)
            .crd_json(serde_json::json!({"spec": "not an object"}));
        let error = options.crds().expect_err("the JSON value is not a CRD");
        assert!(matches!(error, Error::InvalidCrd { index: 3, .. }), "{error:?}");
    }
}
