//! deploy/ against a real control plane: the Helm chart rendered with several value sets and
//! applied with server-side dry run, the plain manifests compared with the chart, the rights
//! `hotloop rbac` prints, and the chart's flags checked against `hotloop run` itself.
//!
//! helm comes from scripts/build-helm (built once, then cached). A ServiceMonitor is only
//! rendered, never applied: the local control plane has no Prometheus Operator CRDs.

#[path = "deploy/chart.rs"]
mod chart;
mod common;
#[path = "deploy/values.rs"]
mod values;

use std::collections::BTreeSet;

use hotloop_testenv::{ClusterOptions, SharedCluster};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use chart::{
    args, assert_accepted, container, example_plugin_rules, flag_value, has_arg, helm_template,
    hotloop, kinds, named, only, parse, render, repo, rules, strings,
};

static CLUSTER: SharedCluster = SharedCluster::new(ClusterOptions::new);

#[tokio::test]
async fn every_object_of_the_default_chart_is_accepted_by_the_api_server() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let objects = render(namespace.name(), &[]);
    let expected = [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ];
    assert_eq!(kinds(&objects), expected.map(String::from).into());
    assert_accepted(&namespace.client(), &objects).await;

    let plugins_namespace = format!("--namespace={}", namespace.name());
    for arg in [
        "run",
        plugins_namespace.as_str(),
        "--plugin-selector=hotloop.dev/plugin=true",
        "--metrics-addr=0.0.0.0:9090",
        "--cache-dir=/var/cache/hotloop",
        "--log-format=text",
    ] {
        assert!(has_arg(&objects, arg), "{arg} missing from {:?}", args(&objects));
    }
    assert!(!has_arg(&objects, "--leader-elect"), "one replica runs without leader election");
    let deployment = only(&objects, "Deployment");
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    assert_eq!(deployment["spec"]["replicas"], 1);
}

#[tokio::test]
async fn the_chart_can_create_its_namespace_enforcing_restricted_pod_security() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let objects = render(namespace.name(), &["--set", "namespace.create=true"]);
    assert_accepted(&namespace.client(), &objects).await;
    let created = only(&objects, "Namespace");
    assert_eq!(created["metadata"]["name"], namespace.name());
    let labels = &created["metadata"]["labels"];
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "restricted");
}

#[tokio::test]
async fn two_replicas_turn_on_leader_election_with_a_role_for_just_their_lease() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let objects = render(namespace.name(), &["--set", "replicas=2"]);
    assert_accepted(&namespace.client(), &objects).await;

    assert!(has_arg(&objects, "--leader-elect"), "no --leader-elect in {:?}", args(&objects));
    assert_eq!(flag_value(&objects, "--lease-name").as_deref(), Some("hotloop"));
    assert_eq!(flag_value(&objects, "--lease-namespace").as_deref(), Some(namespace.name()));
    let deployment = only(&objects, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(deployment["spec"]["strategy"]["type"], "RollingUpdate");

    // What kube-lease-manager 0.13 sends: get, create and patch; nothing else.
    let role = named(&objects, "Role", "hotloop-leader-election");
    assert_eq!(role["metadata"]["namespace"], namespace.name());
    assert_eq!(
        role["rules"],
        json!([
            { "apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"] },
            {
                "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                "resourceNames": ["hotloop"], "verbs": ["get", "patch"],
            },
        ])
    );
    let binding = named(&objects, "RoleBinding", "hotloop-leader-election");
    assert_eq!(binding["roleRef"]["name"], "hotloop-leader-election");
    assert_eq!(binding["subjects"][0]["name"], "hotloop");
}

#[test]
fn leader_election_can_be_switched_on_for_a_single_replica() {
    let objects = render("hotloop-system", &["--set", "leaderElection.enabled=true"]);
    assert!(has_arg(&objects, "--leader-elect"));
    assert_eq!(only(&objects, "Deployment")["spec"]["replicas"], 1);
    named(&objects, "Role", "hotloop-leader-election");
}

#[tokio::test]
async fn json_logs_custom_limits_and_a_selector_reach_the_flags_of_the_host() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let values = [
        "--set",
        "logFormat=json,plugins.selector=team=web",
        "--set",
        "sandbox.fuel=5000000000,sandbox.deadlineMs=250,sandbox.memoryMiB=32",
        "--set",
        "sandbox.hostCalls=16,sandbox.outputKiB=64,controller.concurrency=8,metrics.port=9100",
        "--set",
        "metrics.serviceMonitor.enabled=false",
    ];
    let objects = render(namespace.name(), &values);
    assert_accepted(&namespace.client(), &objects).await;

    for (flag, value) in [
        ("--log-format", "json"),
        ("--plugin-selector", "team=web"),
        // Helm reads numbers as floats; a large one must not come out as 5e+09.
        ("--default-fuel", "5000000000"),
        ("--default-deadline-ms", "250"),
        ("--default-memory-mib", "32"),
        ("--default-host-calls", "16"),
        ("--default-output-kib", "64"),
        ("--concurrency", "8"),
        ("--metrics-addr", "0.0.0.0:9100"),
    ] {
        assert_eq!(flag_value(&objects, flag).as_deref(), Some(value), "{flag}");
    }
    assert_eq!(container(&objects)["ports"][0]["containerPort"], 9100);
    assert_eq!(only(&objects, "Service")["spec"]["ports"][0]["port"], 9100);
    assert!(!kinds(&objects).contains("ServiceMonitor"));
}

#[tokio::test]
async fn the_rules_hotloop_rbac_prints_install_with_the_chart_as_plugin_rules() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let rules = example_plugin_rules();
    let values = format!("pluginRules={rules}");
    let objects = render(namespace.name(), &["--set-json", &values]);
    assert_accepted(&namespace.client(), &objects).await;

    let role = named(&objects, "ClusterRole", "hotloop-plugin-rules");
    assert_eq!(role["rules"], rules);
    let binding = named(&objects, "ClusterRoleBinding", "hotloop-plugin-rules");
    assert_eq!(binding["roleRef"]["name"], "hotloop-plugin-rules");
    assert_eq!(binding["subjects"][0]["name"], "hotloop");
    assert_eq!(binding["subjects"][0]["namespace"], namespace.name());
}

#[test]
fn a_wildcard_in_plugin_rules_is_refused() {
    let rule = r#"pluginRules=[{"apiGroups":["apps"],"resources":["deployments"],"verbs":["*"]}]"#;
    let error = helm_template("hotloop-system", &["--set-json", rule])
        .expect_err("a rule granting every verb renders");
    assert!(error.contains("pluginRules[0].verbs contains \"*\""), "{error}");
}

#[test]
fn the_host_is_granted_only_what_it_calls() {
    let objects = render("hotloop-system", &["--set", "replicas=2"]);
    let granted: BTreeSet<String> = rules(&objects)
        .into_iter()
        .map(|(kind, rule)| {
            let names = strings(&rule["resourceNames"]);
            format!(
                "{kind} {:?} {:?} {:?} {names:?}",
                strings(&rule["apiGroups"]),
                strings(&rule["resources"]),
                strings(&rule["verbs"])
            )
        })
        .collect();
    let expected: BTreeSet<String> = [
        r#"Role [""] ["configmaps"] ["create", "delete", "list", "patch", "watch"] []"#,
        r#"ClusterRole ["events.k8s.io"] ["events"] ["create", "patch"] []"#,
        r#"Role ["coordination.k8s.io"] ["leases"] ["create"] []"#,
        r#"Role ["coordination.k8s.io"] ["leases"] ["get", "patch"] ["hotloop"]"#,
    ]
    .map(String::from)
    .into();
    assert_eq!(granted, expected);
}

#[test]
fn no_rule_the_chart_renders_grants_a_wildcard() {
    let rules_value = format!("pluginRules={}", example_plugin_rules());
    let value_sets: [&[&str]; 3] =
        [&[], &["--set", "replicas=2"], &["--set-json", rules_value.as_str()]];
    for values in value_sets {
        let objects = render("hotloop-system", values);
        let all = rules(&objects);
        assert!(!all.is_empty(), "no RBAC rendered with {values:?}");
        for (kind, rule) in all {
            for field in ["apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"] {
                let granted = strings(&rule[field]);
                assert!(!granted.contains(&"*"), "{kind} grants * in {field}: {rule}");
            }
        }
    }
}

#[test]
fn the_cluster_roles_of_the_host_itself_have_no_rule_on_secrets() {
    // Without pluginRules: a plugin may own Secrets (the example plugin does), the host not.
    for values in [&[][..], &["--set", "replicas=2"]] {
        let objects = render("hotloop-system", values);
        let cluster_rules: Vec<_> =
            rules(&objects).into_iter().filter(|(kind, _)| *kind == "ClusterRole").collect();
        assert!(!cluster_rules.is_empty(), "no ClusterRole rendered with {values:?}");
        for (_, rule) in cluster_rules {
            let resources = strings(&rule["resources"]);
            assert!(!resources.iter().any(|r| r.starts_with("secrets")), "{rule}");
        }
    }
}

#[tokio::test]
async fn the_pod_runs_as_non_root_on_a_read_only_root_and_passes_restricted_pod_security() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let objects = render(namespace.name(), &[]);
    let pod_spec = &only(&objects, "Deployment")["spec"]["template"]["spec"];
    let security = &container(&objects)["securityContext"];
    assert_eq!(pod_spec["securityContext"]["runAsNonRoot"], true);
    let user = pod_spec["securityContext"]["runAsUser"].as_i64();
    assert!(user.is_some_and(|uid| uid > 0), "runAsUser is {user:?}, not a non-root number");
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault");
    let mounts = container(&objects)["volumeMounts"].as_array().expect("volume mounts");
    assert_eq!(mounts.len(), 1, "only the plugin cache is writable: {mounts:?}");

    // The API server enforces Pod Security on Pods, dry-run or not; the Deployment's template
    // as a Pod must pass "restricted", and the same Pod with escalation allowed must not, or
    // the check proves nothing.
    let namespaces: Api<Namespace> = Api::all(namespace.client());
    let label = json!({ "metadata": { "labels": {
        "pod-security.kubernetes.io/enforce": "restricted" } } });
    namespaces
        .patch(namespace.name(), &PatchParams::default(), &Patch::Merge(&label))
        .await
        .expect("label the namespace");
    let pods: Api<Pod> = Api::namespaced(namespace.client(), namespace.name());
    let dry_run = PostParams { dry_run: true, ..PostParams::default() };
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "hotloop-pod-security" },
        "spec": pod_spec,
    });
    let admitted = pods.create(&dry_run, &serde_json::from_value(pod.clone()).unwrap()).await;
    assert!(admitted.is_ok(), "restricted Pod Security rejected the Pod: {admitted:?}");
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true);
    let refused = pods.create(&dry_run, &serde_json::from_value(pod).unwrap()).await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(status)) if status.code == 403),
        "a Pod allowing privilege escalation was admitted: {refused:?}"
    );
}

#[test]
fn the_service_monitor_renders_only_when_switched_on_and_scrapes_the_metrics_service() {
    assert!(!kinds(&render("hotloop-system", &[])).contains("ServiceMonitor"));
    let objects = render("hotloop-system", &["--set", "metrics.serviceMonitor.enabled=true"]);
    let monitor = only(&objects, "ServiceMonitor");
    let service = only(&objects, "Service");
    let selector = monitor["spec"]["selector"]["matchLabels"].as_object().expect("labels");
    for (key, value) in selector {
        assert_eq!(&service["metadata"]["labels"][key], value, "the Service lacks label {key}");
    }
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(monitor["metadata"]["namespace"], "hotloop-system");
}

#[test]
fn the_plain_manifests_are_what_helm_renders_with_the_default_values() {
    let file = std::fs::read_to_string(repo().join("deploy/manifests/hotloop.yaml"))
        .expect("deploy/manifests/hotloop.yaml exists");
    let header: Vec<&str> = file.lines().take_while(|line| line.starts_with('#')).collect();
    assert!(
        header.iter().any(|line| line.contains("scripts/render-manifests")),
        "the file does not say how it is generated: {header:?}"
    );
    let body = &file[header.iter().map(|line| line.len() + 1).sum::<usize>()..];
    let rendered = helm_template("hotloop-system", &[]).expect("helm template");
    // Not assert_eq: a diff of 250 lines helps nobody; the fix is always the same command.
    assert!(
        body == rendered,
        "deploy/manifests/hotloop.yaml is stale: run scripts/render-manifests"
    );
}

#[tokio::test]
async fn the_rbac_hotloop_prints_for_the_example_plugin_is_accepted_by_the_api_server() {
    let namespace = CLUSTER.namespace().await.expect("a test namespace");
    let plugin = common::plugin("static_site");
    let plugin = plugin.to_str().expect("a UTF-8 path");
    let output = hotloop(&["rbac", plugin, "--namespace", namespace.name()]);
    assert!(output.status.success(), "hotloop rbac: {}", String::from_utf8_lossy(&output.stderr));
    let objects = parse(std::str::from_utf8(&output.stdout).expect("YAML is UTF-8"));
    assert_eq!(kinds(&objects), ["ClusterRole", "ClusterRoleBinding"].map(String::from).into());
    assert_accepted(&namespace.client(), &objects).await;
}
