//! deploy/ against a real control plane: the Helm chart rendered with several value sets and
//! applied with server-side dry run, the plain manifests compared with the chart, the rights
//! `hotloop rbac` prints, and the chart's flags checked against `hotloop run` itself.
//!
//! helm comes from scripts/build-helm (built once, then cached). A ServiceMonitor is only
//! rendered, never applied: the local control plane has no Prometheus Operator CRDs.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use hotloop_testenv::{ClusterOptions, SharedCluster};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde::Deserialize as _;
use serde_json::{Value, json};

static CLUSTER: SharedCluster = SharedCluster::new(ClusterOptions::new);

const FIELD_MANAGER: &str = "hotloop-deploy-test";
const RELEASE: &str = "hotloop";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ sits in the repository")
}

/// The helm binary, built (or found up to date) by scripts/build-helm once per test binary.
fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        let output = Command::new(repo().join("scripts/build-helm"))
            .stderr(Stdio::inherit())
            .output()
            .expect("scripts/build-helm runs");
        assert!(output.status.success(), "scripts/build-helm failed");
        let stdout = String::from_utf8(output.stdout).expect("a directory name");
        let dir = stdout.lines().last().expect("build-helm prints its bin directory last");
        Path::new(dir).join("helm")
    })
}

/// `helm template` of the chart in `namespace` with extra helm arguments (`--set ...`):
/// its output, or its error message.
fn helm_template(namespace: &str, values: &[&str]) -> Result<String, String> {
    let output = Command::new(helm())
        .args(["template", RELEASE, "deploy/helm/hotloop", "--namespace", namespace])
        .args(values)
        .current_dir(repo())
        .output()
        .expect("helm runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("helm writes UTF-8");
    if output.status.success() { Ok(text(output.stdout)) } else { Err(text(output.stderr)) }
}

/// Every object in a multi-document YAML stream; empty documents are skipped.
fn parse(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|document| Value::deserialize(document).expect("each document is YAML"))
        .filter(|object| !object.is_null())
        .collect()
}

fn render(namespace: &str, values: &[&str]) -> Vec<Value> {
    let yaml = helm_template(namespace, values)
        .unwrap_or_else(|error| panic!("helm template {values:?} failed: {error}"));
    parse(&yaml)
}

fn kinds(objects: &[Value]) -> BTreeSet<String> {
    objects.iter().map(|o| o["kind"].as_str().expect("a kind").to_owned()).collect()
}

fn only<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let mut found = objects.iter().filter(|o| o["kind"] == kind);
    let object = found.next().unwrap_or_else(|| panic!("no {kind} rendered"));
    assert!(found.next().is_none(), "more than one {kind} rendered");
    object
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}

fn container(objects: &[Value]) -> &Value {
    &only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(objects: &[Value]) -> Vec<String> {
    let args = container(objects)["args"].as_array().expect("the container has args");
    args.iter().map(|a| a.as_str().expect("each arg is a string").to_owned()).collect()
}

fn has_arg(objects: &[Value], arg: &str) -> bool {
    args(objects).iter().any(|a| a == arg)
}

/// The value the chart passes for `--flag`, as in `--flag=value`.
fn flag_value(objects: &[Value], flag: &str) -> Option<String> {
    let prefix = format!("{flag}=");
    args(objects).iter().find_map(|a| a.strip_prefix(&prefix).map(str::to_owned))
}

/// Server-side applies `object` in dry-run mode through an API found by discovery.
async fn dry_run_apply(client: &kube::Client, object: &Value) -> Result<(), String> {
    let meta: DynamicObject = serde_json::from_value(object.clone()).map_err(|e| e.to_string())?;
    let types = meta.types.as_ref().ok_or("no apiVersion or kind")?;
    let gvk = GroupVersionKind::try_from(types).map_err(|e| e.to_string())?;
    let (resource, capabilities) =
        kube::discovery::pinned_kind(client, &gvk).await.map_err(|e| e.to_string())?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => {
            // The plain manifests are applied as they are: no namespace means a broken file.
            let namespace = meta.metadata.namespace.as_deref().ok_or("no metadata.namespace")?;
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    let name = meta.metadata.name.as_deref().ok_or("no metadata.name")?;
    let params = PatchParams::apply(FIELD_MANAGER).dry_run();
    api.patch(name, &params, &Patch::Apply(object)).await.map(drop).map_err(|e| e.to_string())
}

/// Applies every object with server-side dry run and fails the test naming each rejection.
async fn assert_accepted(client: &kube::Client, objects: &[Value]) {
    let mut rejected = Vec::new();
    for object in objects {
        if let Err(error) = dry_run_apply(client, object).await {
            let kind = &object["kind"];
            let name = &object["metadata"]["name"];
            rejected.push(format!("{kind} {name}: {error}"));
        }
    }
    assert!(rejected.is_empty(), "the API server rejected:\n{}", rejected.join("\n"));
}

/// Every rule of every Role and ClusterRole, with the kind of the object it is in.
fn rules(objects: &[Value]) -> Vec<(&str, &Value)> {
    objects
        .iter()
        .filter(|o| o["kind"] == "Role" || o["kind"] == "ClusterRole")
        .flat_map(|o| {
            let kind = o["kind"].as_str().expect("a kind");
            o["rules"].as_array().into_iter().flatten().map(move |rule| (kind, rule))
        })
        .collect()
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The output of the `hotloop` binary built with these tests.
fn hotloop(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hotloop")).args(args).output().expect("hotloop runs")
}

/// The rules `hotloop rbac` prints for the example plugin.
fn example_plugin_rules() -> Value {
    let plugin = common::plugin("static_site");
    let output = hotloop(&["rbac", plugin.to_str().expect("a UTF-8 path")]);
    assert!(output.status.success(), "hotloop rbac: {}", String::from_utf8_lossy(&output.stderr));
    let objects = parse(std::str::from_utf8(&output.stdout).expect("YAML is UTF-8"));
    only(&objects, "ClusterRole")["rules"].clone()
}

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

/// Every flag the chart can pass, in one render.
fn every_flag() -> Vec<Value> {
    render("hotloop-system", &["--set", "replicas=2"])
}

#[test]
fn hotloop_run_accepts_every_flag_the_chart_passes() {
    let chart_args = args(&every_flag());
    // clap checks every argument and value before it acts on --help, so this fails on an
    // unknown flag or a malformed value without needing a cluster.
    let mut with_help: Vec<&str> = chart_args.iter().map(String::as_str).collect();
    with_help.push("--help");
    let output = hotloop(&with_help);
    assert!(
        output.status.success(),
        "hotloop refuses the chart's arguments {chart_args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `[default: ...]` that `hotloop run --help` shows for each flag.
fn host_defaults() -> Vec<(String, String)> {
    let output = hotloop(&["run", "--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("help is UTF-8");
    let mut defaults = Vec::new();
    let mut flag = None;
    for line in help.lines().map(str::trim_start) {
        if let Some(rest) = line.strip_prefix("--") {
            flag = rest.split([' ', '=']).next().map(|name| format!("--{name}"));
        }
        if let (Some(flag), Some(start)) = (&flag, line.find("[default: ")) {
            let value = &line[start + "[default: ".len()..];
            let value = value.split(']').next().expect("a closing bracket");
            defaults.push((flag.clone(), value.to_owned()));
        }
    }
    defaults
}

#[test]
fn the_chart_defaults_are_the_defaults_of_the_host() {
    let objects = every_flag();
    let defaults = host_defaults();
    // Left out on purpose: --metrics-addr (a Pod must listen on every address, not loopback)
    // and --lease-namespace (the chart names it; the host derives it from --namespace).
    for flag in [
        "--log-format",
        "--namespace",
        "--plugin-selector",
        "--concurrency",
        "--backoff-base-ms",
        "--backoff-cap-ms",
        "--shutdown-grace-s",
        "--default-fuel",
        "--default-deadline-ms",
        "--default-memory-mib",
        "--default-host-calls",
        "--default-output-kib",
        "--lease-name",
        "--lease-duration-s",
        "--renew-deadline-s",
        "--retry-period-s",
    ] {
        let host = defaults.iter().find(|(f, _)| f == flag).map(|(_, value)| value.as_str());
        let chart = flag_value(&objects, flag);
        assert!(host.is_some(), "hotloop run --help shows no default for {flag}");
        assert_eq!(chart.as_deref(), host, "the chart and the host disagree on {flag}");
    }
}

/// Every value of values.yaml as a dotted path with its default. Maps whose keys are not
/// plain names (labels, annotations) are one value, as they are in the tables.
fn leaf_values(prefix: &str, node: &Value, out: &mut Vec<(String, Value)>) {
    let plain = |key: &String| key.chars().all(|c| c.is_ascii_alphanumeric());
    match node {
        Value::Object(map) if !map.is_empty() && map.keys().all(plain) => {
            for (key, value) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                leaf_values(&path, value, out);
            }
        }
        _ => out.push((prefix.to_owned(), node.clone())),
    }
}

/// A default as the tables show it: scalars bare, an empty string as `""`, the rest as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) if text.is_empty() => "\"\"".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[test]
fn the_value_tables_list_every_value_with_its_default() {
    let values = std::fs::read_to_string(repo().join("deploy/helm/hotloop/values.yaml"))
        .expect("values.yaml");
    let values: Value = serde_yaml_ng::from_str(&values).expect("values.yaml is YAML");
    let mut leaves = Vec::new();
    leaf_values("", &values, &mut leaves);
    for readme in ["deploy/README.md", "deploy/helm/hotloop/README.md"] {
        let text = std::fs::read_to_string(repo().join(readme)).expect("the README");
        let section =
            text.split("\n## Values\n").nth(1).and_then(|rest| rest.split("\n## ").next());
        let section = section.unwrap_or_else(|| panic!("{readme} has no \"## Values\" section"));
        let rows = section.lines().filter(|line| line.starts_with("| `")).count();
        assert_eq!(
            rows,
            leaves.len(),
            "{readme} has {rows} value rows for {} values",
            leaves.len()
        );
        for (path, default) in &leaves {
            let row = format!("| `{path}` | `{}` |", shown(default));
            assert!(section.contains(&row), "{readme} lacks the row {row}");
        }
    }
}
