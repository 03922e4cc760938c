//! The host's Prometheus metrics, recorded by the controller and the plugin registry.

use std::time::Duration;

use prometheus_client::encoding::text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{
    ApiRequestLabels, PluginLabels, PluginResultLabels, ReconcileLabels, SandboxFailureLabels,
};

/// The media type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the reconcile duration buckets, in seconds: 100 µs doubling to about 13 s.
/// Doubling keeps every bound a short decimal (0.0001, 0.0002, ... 6.5536, 13.1072).
fn duration_buckets() -> impl Iterator<Item = f64> {
    (0..18).map(|i| 0.0001 * f64::from(1u32 << i))
}

/// Every metric the host exports, in one registry. Share it as `Arc<Metrics>`.
///
/// Recording is lock-free once a label set has been seen, and never fails. A family shows up
/// in [`Metrics::encode`] once something has been recorded in it.
///
/// # Caveats
/// Series are kept for the life of the process, except the queue depth of a plugin that
/// [`Metrics::plugin_removed`] is told about. The `state` label is bounded by the states each
/// plugin declares; callers must not put object names or digests in labels.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ReconcileLabels, Counter>,
    reconcile_duration: Family<PluginLabels, Histogram>,
    fuel: Family<PluginLabels, Counter>,
    sandbox_failures: Family<SandboxFailureLabels, Counter>,
    queue_depth: Family<PluginLabels, Gauge>,
    api_requests: Family<ApiRequestLabels, Counter>,
    plugin_loads: Family<PluginResultLabels, Counter>,
    plugin_swaps: Family<PluginResultLabels, Counter>,
    plugins_active: Gauge,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A registry with every `hotloop_` family registered and nothing recorded.
    pub fn new() -> Self {
        let mut metrics = Metrics {
            registry: Registry::with_prefix("hotloop"),
            reconciles: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| Histogram::new(duration_buckets())),
            fuel: Family::default(),
            sandbox_failures: Family::default(),
            queue_depth: Family::default(),
            api_requests: Family::default(),
            plugin_loads: Family::default(),
            plugin_swaps: Family::default(),
            plugins_active: Gauge::default(),
            leader: Gauge::default(),
        };
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        let registry = &mut self.registry;
        registry.register(
            "reconciles",
            "Plugin calls completed, by the state they ran in and their result",
            self.reconciles.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Wall time of one reconcile or finalize, from dispatch to the written status",
            Unit::Seconds,
            self.reconcile_duration.clone(),
        );
        registry.register(
            "fuel_consumed",
            "WebAssembly fuel the plugin's calls consumed",
            self.fuel.clone(),
        );
        registry.register(
            "sandbox_failures",
            "Plugin calls stopped by a sandbox limit or a broken result, by kind",
            self.sandbox_failures.clone(),
        );
        registry.register(
            "queue_depth",
            "Objects waiting in the plugin's work queue",
            self.queue_depth.clone(),
        );
        registry.register(
            "api_requests",
            "Kubernetes API requests made on behalf of the plugin, by verb",
            self.api_requests.clone(),
        );
        registry.register(
            "plugin_loads",
            "Plugin versions read from a source, by whether they were loaded",
            self.plugin_loads.clone(),
        );
        registry.register(
            "plugin_swaps",
            "Swaps of a running plugin to a new version, by result",
            self.plugin_swaps.clone(),
        );
        registry.register(
            "plugins_active",
            "Plugins with a running controller",
            self.plugins_active.clone(),
        );
        registry.register(
            "leader",
            "1 while this instance reconciles (it holds the lease, or runs without election)",
            self.leader.clone(),
        );
    }

    /// Records one finished reconcile or finalize call of `plugin` in `state`; `result` is
    /// one of [`super::reconcile_result`] or [`super::finalize_result`].
    pub fn reconcile(
        &self,
        plugin: &str,
        state: &str,
        result: &str,
        duration: Duration,
        fuel: u64,
    ) {
        let labels =
            ReconcileLabels { plugin: plugin.into(), state: state.into(), result: result.into() };
        self.reconciles.get_or_create(&labels).inc();
        let labels = PluginLabels::new(plugin);
        self.reconcile_duration.get_or_create(&labels).observe(duration.as_secs_f64());
        self.fuel.get_or_create(&labels).inc_by(fuel);
    }

    /// Records a call the sandbox stopped; `kind` is the failure's reason, such as `OutOfFuel`.
    pub fn sandbox_failure(&self, plugin: &str, kind: &str) {
        let labels = SandboxFailureLabels { plugin: plugin.into(), kind: kind.into() };
        self.sandbox_failures.get_or_create(&labels).inc();
    }

    /// Sets the number of objects waiting in `plugin`'s queue.
    pub fn queue_depth(&self, plugin: &str, depth: i64) {
        self.queue_depth.get_or_create(&PluginLabels::new(plugin)).set(depth);
    }

    /// Records one API request: `get`, `list`, `apply`, `patch_status`, `patch_finalizers`,
    /// `delete` or `event`.
    pub fn api_request(&self, plugin: &str, verb: &str) {
        let labels = ApiRequestLabels { plugin: plugin.into(), verb: verb.into() };
        self.api_requests.get_or_create(&labels).inc();
    }

    /// Records a plugin version read from a source: `loaded`, `rejected` or `kind_missing`.
    pub fn plugin_load(&self, plugin: &str, result: &str) {
        let labels = PluginResultLabels { plugin: plugin.into(), result: result.into() };
        self.plugin_loads.get_or_create(&labels).inc();
    }

    /// Records a swap of a running plugin to a new version.
    pub fn plugin_swap(&self, plugin: &str, result: &str) {
        let labels = PluginResultLabels { plugin: plugin.into(), result: result.into() };
        self.plugin_swaps.get_or_create(&labels).inc();
    }

    /// Sets the number of plugins with a running controller.
    pub fn plugins_active(&self, n: i64) {
        self.plugins_active.set(n);
    }

    /// Sets whether this instance reconciles: it leads, or runs without leader election.
    pub fn leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// Drops the series that would otherwise go on showing a removed plugin's last value
    /// (its queue depth). Its counters stay, as counters should.
    pub fn plugin_removed(&self, plugin: &str) {
        self.queue_depth.remove(&PluginLabels::new(plugin));
    }

    /// Every metric in the OpenMetrics text format, ending with `# EOF`; see [`CONTENT_TYPE`].
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail, and none of our label values' encoders return an
        // error; should one ever, the scrape lacks `# EOF` and Prometheus rejects it visibly.
        if let Err(error) = text::encode(&mut out, &self.registry) {
            tracing::error!(%error, "encoding the metrics failed; the scrape is incomplete");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(metrics: &Metrics) -> Vec<String> {
        metrics.encode().lines().map(str::to_owned).collect()
    }

    fn has_line(metrics: &Metrics, line: &str) -> bool {
        lines(metrics).iter().any(|l| l == line)
    }

    #[test]
    fn a_reconcile_counts_by_plugin_state_and_result() {
        let metrics = Metrics::new();
        metrics.reconcile("site", "Pending", "transition", Duration::from_millis(3), 10);
        metrics.reconcile("site", "Pending", "transition", Duration::from_millis(3), 10);
        metrics.reconcile("site", "Ready", "settled", Duration::from_millis(3), 10);
        assert!(has_line(
            &metrics,
            r#"hotloop_reconciles_total{plugin="site",state="Pending",result="transition"} 2"#
        ));
        assert!(has_line(
            &metrics,
            r#"hotloop_reconciles_total{plugin="site",state="Ready",result="settled"} 1"#
        ));
    }

    #[test]
    fn a_reconcile_adds_its_fuel_and_its_duration() {
        let metrics = Metrics::new();
        metrics.reconcile("site", "Pending", "requeue", Duration::from_micros(300), 1_500);
        metrics.reconcile("site", "Pending", "requeue", Duration::from_secs(2), 500);
        assert!(has_line(&metrics, r#"hotloop_fuel_consumed_total{plugin="site"} 2000"#));
        assert!(has_line(&metrics, r#"hotloop_reconcile_duration_seconds_count{plugin="site"} 2"#));
        assert!(has_line(
            &metrics,
            r#"hotloop_reconcile_duration_seconds_sum{plugin="site"} 2.0003"#
        ));
    }

    #[test]
    fn durations_fall_into_buckets_from_100_microseconds_to_over_10_seconds() {
        let metrics = Metrics::new();
        metrics.reconcile("site", "Pending", "requeue", Duration::from_micros(50), 0);
        metrics.reconcile("site", "Pending", "requeue", Duration::from_secs(10), 0);
        metrics.reconcile("site", "Pending", "requeue", Duration::from_secs(60), 0);
        let bucket = |le: &str| {
            format!(r#"hotloop_reconcile_duration_seconds_bucket{{le="{le}",plugin="site"}}"#)
        };
        assert!(has_line(&metrics, &format!("{} 1", bucket("0.0001"))));
        assert!(has_line(&metrics, &format!("{} 1", bucket("6.5536"))));
        assert!(has_line(&metrics, &format!("{} 2", bucket("13.1072"))));
        assert!(has_line(&metrics, &format!("{} 3", bucket("+Inf"))));
        let buckets = lines(&metrics).iter().filter(|l| l.contains("_bucket{")).count();
        assert_eq!(buckets, 19, "18 bounds and +Inf");
    }

    #[test]
    fn sandbox_failures_count_by_kind() {
        let metrics = Metrics::new();
        metrics.sandbox_failure("spin", "OutOfFuel");
        metrics.sandbox_failure("spin", "OutOfFuel");
        metrics.sandbox_failure("sleepy", "DeadlineExceeded");
        assert!(has_line(
            &metrics,
            r#"hotloop_sandbox_failures_total{plugin="spin",kind="OutOfFuel"} 2"#
        ));
        assert!(has_line(
            &metrics,
            r#"hotloop_sandbox_failures_total{plugin="sleepy",kind="DeadlineExceeded"} 1"#
        ));
    }

    #[test]
    fn the_queue_depth_shows_the_last_value_set_until_the_plugin_is_removed() {
        let metrics = Metrics::new();
        metrics.queue_depth("site", 7);
        metrics.queue_depth("site", 3);
        assert!(has_line(&metrics, r#"hotloop_queue_depth{plugin="site"} 3"#));
        metrics.plugin_removed("site");
        assert!(!metrics.encode().contains("hotloop_queue_depth{"));
    }

    #[test]
    fn api_requests_count_by_verb() {
        let metrics = Metrics::new();
        metrics.api_request("site", "apply");
        metrics.api_request("site", "patch_status");
        metrics.api_request("site", "patch_status");
        assert!(has_line(&metrics, r#"hotloop_api_requests_total{plugin="site",verb="apply"} 1"#));
        assert!(has_line(
            &metrics,
            r#"hotloop_api_requests_total{plugin="site",verb="patch_status"} 2"#
        ));
    }

    #[test]
    fn plugin_loads_swaps_and_the_active_count_are_recorded() {
        let metrics = Metrics::new();
        metrics.plugin_load("site", "loaded");
        metrics.plugin_load("broken", "rejected");
        metrics.plugin_swap("site", "swapped");
        metrics.plugins_active(1);
        assert!(has_line(
            &metrics,
            r#"hotloop_plugin_loads_total{plugin="site",result="loaded"} 1"#
        ));
        assert!(has_line(
            &metrics,
            r#"hotloop_plugin_loads_total{plugin="broken",result="rejected"} 1"#
        ));
        assert!(has_line(
            &metrics,
            r#"hotloop_plugin_swaps_total{plugin="site",result="swapped"} 1"#
        ));
        assert!(has_line(&metrics, "hotloop_plugins_active 1"));
    }

    #[test]
    fn the_leader_gauge_starts_at_zero_and_follows_leadership() {
        let metrics = Metrics::new();
        assert!(has_line(&metrics, "hotloop_leader 0"));
        metrics.leader(true);
        assert!(has_line(&metrics, "hotloop_leader 1"));
        metrics.leader(false);
        assert!(has_line(&metrics, "hotloop_leader 0"));
    }

    #[test]
    fn the_output_is_openmetrics_with_help_type_unit_and_eof() {
        let metrics = Metrics::new();
        metrics.reconcile("site", "Pending", "transition", Duration::from_millis(1), 1);
        let text = metrics.encode();
        assert!(text.contains("# TYPE hotloop_reconciles counter\n"));
        assert!(text.contains("# TYPE hotloop_reconcile_duration_seconds histogram\n"));
        assert!(text.contains("# UNIT hotloop_reconcile_duration_seconds seconds\n"));
        assert!(
            text.contains("# HELP hotloop_plugins_active Plugins with a running controller.\n")
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn label_values_are_escaped_exactly_once() {
        let metrics = Metrics::new();
        metrics.plugin_load("a\"b\\c\nd", "rejected");
        assert!(has_line(
            &metrics,
            r#"hotloop_plugin_loads_total{plugin="a\"b\\c\nd",result="rejected"} 1"#
        ));
    }
}
