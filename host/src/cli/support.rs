//! Pieces every subcommand shares: logging, loading a plugin file, the clock.

use std::path::Path;

use anyhow::Context as _;

use crate::runtime::{Limits, Plugin, Runtime, RuntimeConfig};

/// Logs go to standard error, filtered by `RUST_LOG` (default: `default_level`), as text or
/// as one JSON object a line; either way a line about an object carries the reconcile span's
/// fields (kind, object, state, plugin, digest, trigger).
pub(super) fn init_logging(default_level: &str, format: super::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    // Colours only for a terminal (not in files, `kubectl logs` or a log collector), and not
    // when NO_COLOR asks for none.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _already_set = match format {
        super::LogFormat::Text => builder.try_init(),
        super::LogFormat::Json => {
            builder.json().with_current_span(true).with_span_list(false).try_init()
        }
    };
}

/// Like [`init_logging`], into the file at `path` instead (created or truncated).
pub(super) fn init_logging_to_file(
    default_level: &str,
    format: super::LogFormat,
    path: &Path,
) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create the log file {}", path.display()))?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    let _already_set = match format {
        super::LogFormat::Text => builder.try_init(),
        super::LogFormat::Json => {
            builder.json().with_current_span(true).with_span_list(false).try_init()
        }
    };
    Ok(())
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

pub(crate) use crate::controller::now_rfc3339;

/// Writes a command's output to standard output. A reader that stops early (`| head`) ends the
/// write with a broken pipe, which [`super::main`] takes as a quiet end, not an error.
pub(super) fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether `error` is standard output closed by its reader.
pub(super) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
