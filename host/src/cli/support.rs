//! Pieces every subcommand shares: logging, loading a plugin file, the clock.

use std::path::Path;

use anyhow::Context as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::runtime::{Limits, Plugin, Runtime, RuntimeConfig};

/// Logs go to standard error, filtered by `RUST_LOG` (default: warnings).
pub(super) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _already_set =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Reads a plugin file and loads it under `limits`.
pub(super) fn load_plugin(path: &Path, limits: Limits) -> anyhow::Result<(Plugin, usize)> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))?;
    let runtime =
        Runtime::new(RuntimeConfig { max_concurrent_calls: 4, ..RuntimeConfig::default() })?;
    let plugin = runtime
        .load(&bytes, limits)
        .with_context(|| format!("cannot load plugin {}", path.display()))?;
    Ok((plugin, bytes.len()))
}

/// The current time as Kubernetes writes it: RFC 3339, UTC, whole seconds.
pub(crate) fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now).format(&Rfc3339).unwrap_or_default()
}
