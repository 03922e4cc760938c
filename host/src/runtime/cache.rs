//! Compiled components, kept by the sha256 of their bytes: in memory, and optionally as
//! precompiled artifacts in a directory the host owns.
//!
//! Artifacts on disk are named by the plugin digest and the engine's compatibility hash, so
//! a host with different settings or a different wasmtime never loads another's artifact.
//!
//! # Caveats
//! Loading an artifact skips validation: only files this host wrote into its own directory are
//! ever loaded, and a directory other users can write to must not be configured.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use wasmtime::Engine;
use wasmtime::component::Component;

use super::compiler::Compiler;
use super::error::LoadError;

/// How many compiled versions stay in memory; older ones are compiled or loaded again.
const MEMORY_ENTRIES: usize = 32;

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Memory,
    Disk,
    Compiled,
}

pub(super) struct ArtifactCache {
    memory: Mutex<VecDeque<(String, Component)>>,
    dir: Option<PathBuf>,
    compatibility: String,
    compiler: Compiler,
}

impl ArtifactCache {
    pub(super) fn new(
        engine: &Engine,
        dir: Option<PathBuf>,
        compiler: Compiler,
    ) -> Result<Self, LoadError> {
        if let Some(dir) = &dir {
            std::fs::create_dir_all(dir).map_err(|error| LoadError::CacheDir {
                path: dir.display().to_string(),
                message: error.to_string(),
            })?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let compatibility = format!("{:016x}", hasher.finish());
        Ok(ArtifactCache { memory: Mutex::new(VecDeque::new()), dir, compatibility, compiler })
    }

    fn artifact_path(&self, dir: &Path, digest_hex: &str) -> PathBuf {
        dir.join(format!("{digest_hex}-{}.cwasm", self.compatibility))
    }

    fn remember(&self, digest_hex: &str, component: &Component) {
        let mut memory = self.memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if memory.iter().any(|(digest, _)| digest == digest_hex) {
            return;
        }
        if memory.len() == MEMORY_ENTRIES {
            memory.pop_front();
        }
        memory.push_back((digest_hex.to_owned(), component.clone()));
    }

    /// The compiled component for these bytes, compiling them only when no cache has it.
    pub(super) fn component(
        &self,
        engine: &Engine,
        digest_hex: &str,
        bytes: &[u8],
    ) -> Result<(Component, Origin), LoadError> {
        {
            let memory = self.memory.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some((_, component)) = memory.iter().find(|(digest, _)| digest == digest_hex) {
                return Ok((component.clone(), Origin::Memory));
            }
        }
        if let Some(dir) = &self.dir {
            let path = self.artifact_path(dir, digest_hex);
            if let Some(component) = load_artifact(engine, &path) {
                self.remember(digest_hex, &component);
                return Ok((component, Origin::Disk));
            }
        }
        let component = self.compiler.compile(engine, bytes)?;
        if let Some(dir) = &self.dir {
            store_artifact(&component, &self.artifact_path(dir, digest_hex));
        }
        self.remember(digest_hex, &component);
        Ok((component, Origin::Compiled))
    }
}

/// Loads an artifact this host wrote; a missing or unreadable one is simply compiled again.
fn load_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    if !path.is_file() {
        return None;
    }
    // SAFETY: the file lies in the host's own cache directory, was written by this host
    // through `store_artifact`, and its name carries the engine's compatibility hash.
    #[allow(unsafe_code)] // loading precompiled code is unsafe by nature; see above
    let loaded = unsafe { Component::deserialize_file(engine, path) };
    match loaded {
        Ok(component) => Some(component),
        Err(error) => {
            tracing::warn!(path = %path.display(), error = %error, "ignoring unusable compiled artifact");
            None
        }
    }
}

/// Writes an artifact atomically; failing to write it only costs a compile next time.
fn store_artifact(component: &Component, path: &Path) {
    let written = component.serialize().map_err(|e| e.to_string()).and_then(|bytes| {
        let partial = path.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, bytes)
            .and_then(|()| std::fs::rename(&partial, path))
            .map_err(|e| e.to_string())
    });
    if let Err(error) = written {
        tracing::warn!(path = %path.display(), %error, "could not store compiled artifact");
    }
}
