//! Shared by the host's integration tests: the test plugins, built once per test binary.

#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The example and test plugins, all built by one cargo call.
const PLUGINS: [&str; 3] = ["static-site", "misbehave", "bad-manifest"];

/// The cargo target directory this test binary was built in.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/<profile>/deps/<test binary>
    exe.ancestors().nth(3).expect("test binary inside a cargo target directory").to_path_buf()
}

/// Builds the plugin components (once per test binary; cargo skips it when they are fresh)
/// and returns the path of `name`'s component.
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let target = target_dir();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .args(["build", "--quiet", "--profile", "plugin", "--target", "wasm32-wasip2"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        for plugin in PLUGINS {
            command.args(["-p", plugin]);
        }
        let status = command.status().expect("cargo runs");
        assert!(
            status.success(),
            "building the test plugins failed; run `rustup target add wasm32-wasip2` if the \
             target is missing"
        );
        target.join("wasm32-wasip2").join("plugin")
    });
    dir.join(format!("{}.wasm", name.replace('-', "_")))
}

/// The bytes of a plugin component.
pub fn plugin_bytes(name: &str) -> Vec<u8> {
    std::fs::read(plugin(name)).expect("plugin component was built")
}

/// The `swap-probe` test plugin in one of its two versions (`"v1"` or `"v2"`), each built
/// once per test binary and kept under its own name: both versions build to the same file.
pub fn swap_probe(variant: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<(String, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, path)) = built.iter().find(|(v, _)| v == variant) {
        return path.clone();
    }
    let target = target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--quiet", "--profile", "plugin", "--target", "wasm32-wasip2"])
        .args(["-p", "swap-probe"])
        .arg("--target-dir")
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if variant == "v2" {
        command.args(["--features", "swap-probe/v2"]);
    }
    let status = command.status().expect("cargo runs");
    assert!(status.success(), "building swap-probe {variant} failed");
    let out = target.join("wasm32-wasip2").join("plugin");
    let kept = out.join("variants").join(format!("swap_probe_{variant}.wasm"));
    std::fs::create_dir_all(kept.parent().expect("a parent")).expect("variants directory");
    std::fs::copy(out.join("swap_probe.wasm"), &kept).expect("keep the variant");
    built.push((variant.to_owned(), kept.clone()));
    kept
}
