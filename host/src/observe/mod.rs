//! Observability: the host's Prometheus metrics, and the HTTP endpoints that serve them.
//!
//! [`serve`] answers `GET /metrics` (OpenMetrics text), `GET /healthz` (liveness: 200 while
//! the process serves) and `GET /readyz` (readiness: 200 once [`Readiness`] is set, 503
//! before; under leader election its body says `leader` or `standby`). Every metric is named
//! `hotloop_*` and carries the plugin's name, never its digest, so that series survive a hot
//! swap:
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `hotloop_reconciles_total` | counter | `plugin`, `state`, `result` | plugin calls completed; `result` is `transition`, `requeue`, `settled` or `fail` for a reconcile, `finalized`, `finalize_requeue` or `finalize_fail` for a finalize |
//! | `hotloop_reconcile_duration_seconds` | histogram | `plugin` | wall time of one reconcile or finalize; buckets from 100 µs doubling to about 13 s |
//! | `hotloop_fuel_consumed_total` | counter | `plugin` | WebAssembly fuel the plugin's calls consumed (a unit is about one WebAssembly instruction) |
//! | `hotloop_sandbox_failures_total` | counter | `plugin`, `kind` | calls the sandbox stopped or whose result it refused; `kind` is the reason, such as `OutOfFuel`, `DeadlineExceeded`, `MemoryLimitExceeded`, `GuestPanic`, `GuestTrap`, `OutputTooLarge`, `HostCallBudgetExhausted` |
//! | `hotloop_queue_depth` | gauge | `plugin` | objects due for a reconcile that wait for one of the plugin's workers (`--concurrency`); objects scheduled for later are not counted until they are due |
//! | `hotloop_api_requests_total` | counter | `plugin`, `verb` | Kubernetes API requests made for the plugin; `verb` is `apply`, `patch_status`, `patch_finalizers`, `delete`, `event`, or `get` when a plugin deletes a child the watch cache does not hold yet (a plugin's own `get` and `list` are answered from the cache and send nothing) |
//! | `hotloop_plugin_loads_total` | counter | `plugin`, `result` | plugin versions read from a source; `result` is `loaded`, `rejected` (it did not compile or validate) or `kind_missing` (its kind is not served by the cluster) |
//! | `hotloop_plugin_swaps_total` | counter | `plugin`, `result` | swaps of a running plugin to a new version; `result` says whether it took, such as `swapped` |
//! | `hotloop_plugins_active` | gauge | none | plugins with a running controller |
//! | `hotloop_leader` | gauge | none | 1 while this instance reconciles: it holds the lease (`--leader-elect`) or runs without election; 0 while it stands by |
//!
//! A family appears in a scrape once something has been recorded in it.

mod health;
mod labels;
mod metrics;
mod server;

pub use health::{Readiness, Role};
pub use labels::{finalize_result, reconcile_result};
pub use metrics::{CONTENT_TYPE, Metrics};
pub use server::serve;
