//! `hotloop rbac`: the ClusterRole and ClusterRoleBinding that let the host run a plugin.
//!
//! The host's own rights (plugin ConfigMaps, Events, its Lease) come with its installation;
//! what a plugin adds depends on the kinds it declares, so it is derived from its manifest:
//!
//! | declared as | resource | verbs |
//! |---|---|---|
//! | reconciled | `<plural>` | get, list, watch; patch, update (the finalizer) |
//! | reconciled | `<plural>/status` | patch, update (server-side apply of the status) |
//! | reconciled, when the plugin owns kinds | `<plural>/finalizers` | update |
//! | owned | `<plural>` | get, list, watch, create, patch, update, delete |
//! | read | `<plural>` | get, list, watch |
//!
//! Children carry an owner reference with `blockOwnerDeletion`; clusters that enable the
//! `OwnerReferencesPermissionEnforcement` admission plugin allow setting it only to those
//! who may update the owner's `finalizers` subresource, hence the third row.
//!
//! The rights are always cluster-wide (a ClusterRole bound by a ClusterRoleBinding): the host
//! watches each declared kind in every namespace (`Api::all_with`). A Role per namespace
//! would do only if the host could be told to watch fewer namespaces, which it cannot yet.

use std::collections::BTreeSet;
use std::path::PathBuf;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use kube::api::ObjectMeta;

use super::support::load_plugin;
use crate::contract::{KindRef, Manifest};
use crate::runtime::Limits;

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE_OWN: [&str; 4] = ["create", "patch", "update", "delete"];
const CHANGE: [&str; 2] = ["patch", "update"];

#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The plugin component (`.wasm`).
    plugin: PathBuf,
    /// Namespace of the service account the operator runs as.
    #[arg(long, default_value = "hotloop-system")]
    namespace: String,
    /// Service account the operator runs as.
    #[arg(long, default_value = "hotloop")]
    service_account: String,
}

pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let (plugin, _) = load_plugin(&args.plugin, Limits::default())?;
    let manifest = plugin.manifest();
    let name = format!("hotloop-plugin-{}", manifest.name);
    let meta = ObjectMeta {
        name: Some(name.clone()),
        labels: Some(
            [
                ("app.kubernetes.io/part-of".to_owned(), "hotloop".to_owned()),
                ("hotloop.dev/plugin-name".to_owned(), manifest.name.clone()),
            ]
            .into(),
        ),
        ..ObjectMeta::default()
    };
    let role =
        ClusterRole { metadata: meta.clone(), rules: Some(rules(manifest)), ..Default::default() };
    let binding = ClusterRoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name,
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: args.service_account.clone(),
            namespace: Some(args.namespace.clone()),
            ..Subject::default()
        }]),
    };
    let header = format!(
        "# Rights the host needs to run plugin {} {} ({}).\n# Cluster-wide because the host \
         watches every namespace.\n",
        manifest.name,
        manifest.version,
        plugin.digest()
    );
    super::support::print_out(&format!(
        "{header}{}---\n{}",
        serde_yaml_ng::to_string(&role)?,
        serde_yaml_ng::to_string(&binding)?
    ))?;
    Ok(())
}

/// Rules for one API group and resource, merged when a kind is declared more than once.
#[derive(Default)]
struct Rules(Vec<(String, String, BTreeSet<&'static str>)>);

impl Rules {
    fn grant(&mut self, kind: &KindRef, subresource: Option<&str>, verbs: &[&'static str]) {
        let resource = match subresource {
            Some(sub) => format!("{}/{sub}", kind.plural),
            None => kind.plural.clone(),
        };
        match self.0.iter_mut().find(|(g, r, _)| *g == kind.group && *r == resource) {
            Some((_, _, granted)) => granted.extend(verbs),
            None => self.0.push((kind.group.clone(), resource, verbs.iter().copied().collect())),
        }
    }
}

/// The rules the kinds `manifest` declares need, reconciled kind first.
pub(super) fn rules(manifest: &Manifest) -> Vec<PolicyRule> {
    let mut rules = Rules::default();
    let main = &manifest.reconciles;
    rules.grant(main, None, &READ);
    rules.grant(main, None, &CHANGE);
    rules.grant(main, Some("status"), &CHANGE);
    if !manifest.owns.is_empty() {
        rules.grant(main, Some("finalizers"), &["update"]);
    }
    for owned in &manifest.owns {
        rules.grant(owned, None, &READ);
        rules.grant(owned, None, &WRITE_OWN);
    }
    for read in &manifest.reads {
        rules.grant(read, None, &READ);
    }
    rules
        .0
        .into_iter()
        .map(|(group, resource, verbs)| PolicyRule {
            api_groups: Some(vec![group]),
            resources: Some(vec![resource]),
            verbs: verbs.into_iter().map(str::to_owned).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::sample_manifest::{kind, sample};
    use super::*;

    fn verbs_on(rules: &[PolicyRule], group: &str, resource: &str) -> Vec<String> {
        rules
            .iter()
            .find(|r| {
                r.api_groups.as_deref() == Some(&[group.to_owned()])
                    && r.resources.as_deref() == Some(&[resource.to_owned()])
            })
            .map(|r| r.verbs.clone())
            .unwrap_or_default()
    }

    #[test]
    fn the_reconciled_kind_is_watched_and_patched_with_its_status() {
        let rules = rules(&sample());
        let group = "example.hotloop.dev";
        assert_eq!(
            verbs_on(&rules, group, "staticsites"),
            ["get", "list", "patch", "update", "watch"]
        );
        assert_eq!(verbs_on(&rules, group, "staticsites/status"), ["patch", "update"]);
        assert_eq!(verbs_on(&rules, group, "staticsites/finalizers"), ["update"]);
    }

    #[test]
    fn owned_kinds_are_written_and_read_kinds_only_read() {
        let rules = rules(&sample());
        assert_eq!(
            verbs_on(&rules, "", "configmaps"),
            ["create", "delete", "get", "list", "patch", "update", "watch"]
        );
        assert_eq!(verbs_on(&rules, "", "nodes"), ["get", "list", "watch"]);
    }

    #[test]
    fn a_kind_declared_twice_gets_one_rule_with_both_sets_of_verbs() {
        let mut manifest = sample();
        manifest.reads.push(kind("", "ConfigMap", "configmaps", true));
        let rules = rules(&manifest);
        let config_map_rules =
            rules.iter().filter(|r| r.resources.as_deref() == Some(&["configmaps".to_owned()]));
        assert_eq!(config_map_rules.count(), 1);
    }

    #[test]
    fn without_owned_kinds_no_finalizers_subresource_is_asked_for() {
        let manifest = Manifest { owns: vec![], ..sample() };
        let rules = rules(&manifest);
        assert!(verbs_on(&rules, "example.hotloop.dev", "staticsites/finalizers").is_empty());
    }
}
