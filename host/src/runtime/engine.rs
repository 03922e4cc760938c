//! The shared engine: one per host, with the pooling allocator, fuel, epochs and a linker
//! that offers plugins the host functions and a capability-free WASI.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings;
use super::cache::{ArtifactCache, Origin};
use super::call::CallState;
use super::compiler::Compiler;
use super::error::LoadError;
use super::exports::FoundExports;
use super::limits::Limits;
use super::plugin::Plugin;

/// How often the engine's epoch advances: the resolution of call deadlines.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Settings of the shared engine.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Calls that may run at the same time across all plugins; each holds one pooled
    /// instance slot. Default 64.
    pub max_concurrent_calls: u32,
    /// The largest memory limit any plugin may be given. Default 256 MiB.
    pub max_memory_bytes: usize,
    /// Where precompiled artifacts are kept across restarts; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// The limits of a plugin that asks for no others. Default: [`Limits::default`].
    pub default_limits: Limits,
    /// Where components are compiled. Default: in this process (see [`Compiler`]).
    pub compiler: Compiler,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_concurrent_calls: 64,
            max_memory_bytes: 256 << 20,
            cache_dir: None,
            default_limits: Limits::default(),
            compiler: Compiler::InProcess,
        }
    }
}

/// The WebAssembly runtime: compiles, caches and loads plugins, and runs their calls.
///
/// Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Runtime {
    pub(super) inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

pub(super) struct RuntimeInner {
    pub(super) engine: Engine,
    pub(super) linker: Linker<CallState>,
    pub(super) config: RuntimeConfig,
    pub(super) calls: Arc<tokio::sync::Semaphore>,
    cache: ArtifactCache,
    ticker: EpochTicker,
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

/// Errors building the engine itself: a host bug or an impossible configuration.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("the WebAssembly engine could not be created: {0}")]
    Engine(String),
    #[error(transparent)]
    Cache(#[from] LoadError),
}

fn engine_config(config: &RuntimeConfig) -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_concurrent_calls)
        .total_core_instances(config.max_concurrent_calls * 4)
        .total_memories(config.max_concurrent_calls)
        .total_tables(config.max_concurrent_calls * 4)
        .max_memory_size(config.max_memory_bytes)
        // Reset the pages a call touched with memset instead of unmapping them, so that the
        // next call on the slot takes no page faults.
        .linear_memory_keep_resident(4 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto)
        // Return freed slots to the pool in batches rather than one by one after every call.
        // A slot waiting in a batch is not free yet, so a batch is at most a quarter of the
        // pool; when the pool runs out, the batch is returned at once.
        .decommit_batch_size((config.max_concurrent_calls as usize / 4).clamp(1, 16));
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .max_wasm_stack(512 << 10)
        .parallel_compilation(true);
    wasm
}

impl Runtime {
    /// Creates the engine, its linker and the epoch ticker that enforces deadlines.
    ///
    /// # Errors
    /// When the engine cannot be configured (a host bug) or the cache directory cannot be
    /// created.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|error| RuntimeError::Engine(format!("{error:#}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| {
                bindings::Plugin::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
                    &mut linker,
                    |state| state,
                )
            })
            .map_err(|error| RuntimeError::Engine(format!("{error:#}")))?;
        let cache = ArtifactCache::new(&engine, config.cache_dir.clone(), config.compiler.clone())?;
        let ticker = EpochTicker::start(engine.clone())
            .map_err(|error| RuntimeError::Engine(format!("epoch ticker thread: {error}")))?;
        let calls = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_calls as usize));
        Ok(Runtime {
            inner: Arc::new(RuntimeInner { engine, linker, config, calls, cache, ticker }),
        })
    }

    /// The limits of a plugin that asks for no others.
    pub fn default_limits(&self) -> Limits {
        self.inner.config.default_limits
    }

    /// Compiles (or takes from the cache) a plugin, reads and validates its manifest.
    /// CPU-heavy: call it from a blocking thread, not an async task.
    ///
    /// # Errors
    /// Bytes that are not a component, do not compile, implement another contract, or whose
    /// manifest cannot be read or is not valid.
    pub fn load(&self, bytes: &[u8], limits: Limits) -> Result<Plugin, LoadError> {
        self.load_reporting_origin(bytes, limits).map(|(plugin, _)| plugin)
    }

    /// Like [`Runtime::load`], and says whether the compiled code came from a cache.
    ///
    /// # Errors
    /// As [`Runtime::load`].
    pub fn load_reporting_origin(
        &self,
        bytes: &[u8],
        limits: Limits,
    ) -> Result<(Plugin, Origin), LoadError> {
        check_header(bytes)?;
        let digest_hex = hex::encode(Sha256::digest(bytes));
        let (component, origin) =
            self.inner.cache.component(&self.inner.engine, &digest_hex, bytes)?;
        let exports = self
            .inner
            .linker
            .instantiate_pre(&component)
            .and_then(FoundExports::new)
            .map_err(|error| LoadError::WrongWorld(format!("{error:#}")))?;
        let limits = Limits {
            memory_bytes: limits.memory_bytes.min(self.inner.config.max_memory_bytes),
            ..limits
        };
        let plugin = Plugin::new(self.clone(), format!("sha256:{digest_hex}"), exports, limits)?;
        Ok((plugin, origin))
    }
}

impl RuntimeConfig {
    /// A compiler that runs `program compile-component` with this configuration's engine
    /// settings; `program` is the `hotloop` binary.
    pub fn child_compiler(&self, program: PathBuf) -> Compiler {
        let engine_args = vec![
            "--max-concurrent-calls".to_owned(),
            self.max_concurrent_calls.to_string(),
            "--max-memory-bytes".to_owned(),
            self.max_memory_bytes.to_string(),
        ];
        Compiler::Child { program, engine_args }
    }
}

/// An engine set up as a [`Runtime`] with `config` sets up its own, for compiling artifacts
/// that runtime can load.
///
/// # Errors
/// When the engine cannot be configured.
pub fn compile_engine(config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
    Engine::new(&engine_config(config)).map_err(|error| RuntimeError::Engine(format!("{error:#}")))
}

/// The sha256 digest of plugin bytes, as `sha256:<hex>`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    const CORE_VERSION: &[u8] = &[1, 0, 0, 0];
    if !bytes.starts_with(MAGIC) {
        let start: String = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return Err(LoadError::NotWasm(if start.is_empty() {
            "nothing: the file is empty".to_owned()
        } else {
            format!("bytes {start}")
        }));
    }
    if bytes.get(4..8) == Some(CORE_VERSION) {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Advances the engine's epoch every [`EPOCH_TICK`], which is how deadlines stop guests.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new().name("hotloop-epoch".into()).spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(EpochTicker { stop, thread: Some(thread) })
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _joined = thread.join();
        }
    }
}
