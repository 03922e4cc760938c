//! The cluster backend: reads from the operator's watch caches, writes through the API
//! server, records Events. Runs on the sandboxed call's thread and blocks on the async
//! runtime's handle, each request under a timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::runtime::events::{Event, EventType as KubeEventType, Recorder};
use kube::runtime::reflector::{ObjectRef as CacheKey, Store};
use serde_json::Value;
use tokio::runtime::Handle;

use super::{Backend, Parent};
use crate::contract::{EventType, HostError, KindRef, LogLevel};
use crate::observe::Metrics;

type KindKey = (String, String, String);

fn key(kind: &KindRef) -> KindKey {
    (kind.group.clone(), kind.version.clone(), kind.kind.clone())
}

/// The watch caches of the kinds a plugin declares, by group, version and kind.
#[derive(Clone, Default)]
pub struct Caches {
    stores: Arc<HashMap<KindKey, (ApiResource, Store<DynamicObject>)>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches").field("kinds", &self.stores.keys().collect::<Vec<_>>()).finish()
    }
}

impl Caches {
    /// Caches from `(kind, resource, store)` entries.
    pub fn new(entries: Vec<(KindRef, ApiResource, Store<DynamicObject>)>) -> Self {
        let stores =
            entries.into_iter().map(|(kind, ar, store)| (key(&kind), (ar, store))).collect();
        Caches { stores: Arc::new(stores) }
    }

    fn find(&self, kind: &KindRef) -> Result<&(ApiResource, Store<DynamicObject>), HostError> {
        self.stores
            .get(&key(kind))
            .ok_or_else(|| HostError::Unavailable(format!("no cache of {kind} is running")))
    }

    /// Objects in the cache of `kind`, as JSON.
    pub fn objects(&self, kind: &KindRef) -> Vec<Arc<DynamicObject>> {
        self.stores.get(&key(kind)).map(|(_, store)| store.state()).unwrap_or_default()
    }

    /// The object of `kind` named `name` (in `namespace`), as the cache holds it now.
    pub fn get(
        &self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Arc<DynamicObject>>, HostError> {
        let (ar, store) = self.find(kind)?;
        let mut cache_key = CacheKey::new_with(name, ar.clone());
        if let Some(namespace) = namespace {
            cache_key = cache_key.within(namespace);
        }
        Ok(store.get(&cache_key))
    }
}

/// Host calls against the cluster, for one reconciled object.
pub struct ClusterBackend {
    client: Client,
    caches: Caches,
    handle: Handle,
    field_manager: String,
    recorder: Recorder,
    reference: ObjectReference,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Carried into every log line the plugin writes.
    log_context: LogContext,
}

/// Who a plugin's log lines are about.
#[derive(Debug, Clone)]
pub struct LogContext {
    pub kind: String,
    pub object: String,
    pub state: String,
    pub plugin: String,
    pub digest: String,
}

impl std::fmt::Debug for ClusterBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBackend")
            .field("log_context", &self.log_context)
            .finish_non_exhaustive()
    }
}

impl ClusterBackend {
    /// A backend for one call. `handle` must belong to the runtime the caller runs on; the
    /// backend itself is used from a blocking thread.
    #[allow(clippy::too_many_arguments)] // each is one distinct part of the call's scope
    pub fn new(
        client: Client,
        caches: Caches,
        handle: Handle,
        field_manager: String,
        recorder: Recorder,
        reference: ObjectReference,
        timeout: Duration,
        metrics: Arc<Metrics>,
        log_context: LogContext,
    ) -> Self {
        ClusterBackend {
            client,
            caches,
            handle,
            field_manager,
            recorder,
            reference,
            timeout,
            metrics,
            log_context,
        }
    }

    fn api(&self, ar: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, ar),
            None => Api::all_with(self.client.clone(), ar),
        }
    }

    fn block_on<T>(
        &self,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, HostError> {
        let timeout = self.timeout;
        self.handle.block_on(async move {
            match tokio::time::timeout(timeout, request).await {
                Ok(result) => result.map_err(api_error),
                Err(_) => Err(HostError::Unavailable(format!(
                    "the API server did not answer within {timeout:?}"
                ))),
            }
        })
    }
}

fn api_error(error: kube::Error) -> HostError {
    match &error {
        kube::Error::Api(status) if status.code == 409 => {
            HostError::Conflict(status.message.clone())
        }
        kube::Error::Api(status) if status.code == 403 => HostError::Denied(status.message.clone()),
        kube::Error::Api(status) if matches!(status.code, 400 | 404 | 422) => {
            HostError::Invalid(status.message.clone())
        }
        _ => HostError::Unavailable(error.to_string()),
    }
}

fn to_json(object: &DynamicObject) -> Result<Value, HostError> {
    serde_json::to_value(object).map_err(|error| HostError::Unavailable(error.to_string()))
}

impl Backend for ClusterBackend {
    fn get(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, HostError> {
        self.caches.get(kind, namespace, name)?.map(|object| to_json(&object)).transpose()
    }

    fn list(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, HostError> {
        let (_, store) = self.caches.find(kind)?;
        let mut objects = Vec::new();
        for object in store.state() {
            if namespace.is_some() && object.metadata.namespace.as_deref() != namespace {
                continue;
            }
            let labels = serde_json::to_value(&object.metadata.labels).unwrap_or_default();
            if super::selector::matches(selector, &labels) {
                objects.push(to_json(&object)?);
            }
        }
        Ok(objects)
    }

    fn apply(&mut self, kind: &KindRef, object: Value) -> Result<Value, HostError> {
        let (ar, _) = self.caches.find(kind)?;
        let namespace = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let api = self.api(ar, namespace.as_deref());
        self.metrics.api_request(&self.log_context.plugin, "apply");
        let params = PatchParams::apply(&self.field_manager).force();
        let stored =
            self.block_on(async move { api.patch(&name, &params, &Patch::Apply(&object)).await })?;
        to_json(&stored)
    }

    fn get_fresh(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>, HostError> {
        let (ar, _) = self.caches.find(kind)?;
        let api = self.api(ar, namespace);
        self.metrics.api_request(&self.log_context.plugin, "get");
        let name = name.to_owned();
        let found = self.block_on(async move { api.get_opt(&name).await })?;
        found
            .map(|mut object| {
                object.metadata.managed_fields = None;
                to_json(&object)
            })
            .transpose()
    }

    fn delete(
        &mut self,
        kind: &KindRef,
        namespace: Option<&str>,
        name: &str,
        uid: Option<&str>,
    ) -> Result<bool, HostError> {
        let (ar, _) = self.caches.find(kind)?;
        let api = self.api(ar, namespace);
        self.metrics.api_request(&self.log_context.plugin, "delete");
        let name = name.to_owned();
        let mut params = DeleteParams::background();
        if let Some(uid) = uid {
            params = params.preconditions(kube::api::Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            });
        }
        let deleted = self.block_on(async move {
            match api.delete(&name, &params).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                Err(error) => Err(error),
            }
        })?;
        Ok(deleted)
    }

    fn event(&mut self, _parent: &Parent, event_type: EventType, reason: &str, message: &str) {
        let event = Event {
            type_: match event_type {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: reason.to_owned(),
            note: Some(message.to_owned()),
            action: "Reconcile".into(),
            secondary: None,
        };
        self.metrics.api_request(&self.log_context.plugin, "event");
        let (recorder, reference) = (self.recorder.clone(), self.reference.clone());
        let published = self.block_on(async move { recorder.publish(&event, &reference).await });
        if let Err(error) = published {
            tracing::warn!(%error, "could not record the plugin's event");
        }
    }

    fn log(
        &mut self,
        _parent: &Parent,
        level: LogLevel,
        message: &str,
        fields: &[(String, String)],
    ) {
        let context = &self.log_context;
        let fields = fields.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(
                    kind = %context.kind, object = %context.object, state = %context.state,
                    plugin = %context.plugin, digest = %context.digest, fields = %fields,
                    "plugin: {message}"
                )
            };
        }
        match level {
            LogLevel::Trace => emit!(trace),
            LogLevel::Debug => emit!(debug),
            LogLevel::Info => emit!(info),
            LogLevel::Warn => emit!(warn),
            LogLevel::Error => emit!(error),
        }
    }
}
