//! Proof that no component outlives the test process that started it, however that ends.
//!
//! Two of these run this test binary again as a helper process (an ignored test, selected by
//! name and told what to do through an environment variable), so they can watch it from outside.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hotloop_testenv::{ClusterOptions, ControlPlane, SharedCluster};
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Tells a helper which file to write its control plane's process ids and directory to.
const HELPER_REPORT_VAR: &str = "HOTLOOP_TESTENV_HELPER_REPORT";

/// How long a helper may take to start its control plane (binaries are built by then).
const HELPER_DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn dropping_a_control_plane_stops_every_component_and_removes_its_directory() {
    let plane = ControlPlane::start(&ClusterOptions::new()).await.expect("start a control plane");
    let pids: Vec<u32> = plane.process_ids().iter().map(|&(_, pid)| pid).collect();
    let dir = run_dir(&plane);
    assert!(pids.iter().all(|&pid| is_alive(pid)), "every component runs");

    drop(plane);

    let survivors: Vec<u32> = pids.into_iter().filter(|&pid| is_alive(pid)).collect();
    assert!(survivors.is_empty(), "still running after drop: {survivors:?}");
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

#[test]
fn killing_the_test_process_kills_its_control_plane() {
    // The helper's components become our children when it dies, so that we can reap them
    // (rather than leave zombies to an init process that may not reap).
    nix::sys::prctl::set_child_subreaper(true).expect("become a subreaper");
    let report = tempfile::NamedTempFile::new().expect("report file");
    let mut helper = start_helper("helper_that_starts_a_control_plane_and_waits", report.path());
    let (pids, dir) = wait_for_report(&mut helper, report.path());

    helper.kill().expect("SIGKILL the helper");
    helper.wait().expect("reap the helper");

    for pid in pids {
        assert_eq!(reap(pid), Some(Signal::SIGKILL), "process {pid} did not die by SIGKILL");
    }
    let _ = fs::remove_dir_all(dir);
}

#[test]
fn a_failed_test_prints_and_keeps_the_logs_and_the_exit_stops_the_shared_cluster() {
    let report = tempfile::NamedTempFile::new().expect("report file");
    let helper = start_helper("helper_that_fails_in_a_shared_cluster", report.path());

    let Output { status, stderr, .. } = helper.wait_with_output().expect("the helper's output");

    assert!(!status.success(), "the helper's test fails on purpose");
    let (pids, dir) = read_report(report.path()).expect("the helper reported its control plane");
    let stderr = String::from_utf8_lossy(&stderr);
    let logs = dir.join("logs");
    assert!(stderr.contains("the control plane's logs are kept"), "stderr: {stderr}");
    assert!(stderr.contains(&logs.display().to_string()), "stderr: {stderr}");
    assert!(logs.join("kube-apiserver.log").is_file(), "the logs are kept");
    assert!(!dir.join("etcd").exists(), "everything but the logs is removed");
    let survivors: Vec<u32> = pids.into_iter().filter(|&pid| is_alive(pid)).collect();
    assert!(survivors.is_empty(), "still running after the helper exited: {survivors:?}");
    let _ = fs::remove_dir_all(dir);
}

#[tokio::test]
#[ignore = "a helper of killing_the_test_process_kills_its_control_plane"]
async fn helper_that_starts_a_control_plane_and_waits() {
    let report = std::env::var_os(HELPER_REPORT_VAR).expect("run only as a helper");
    let plane = ControlPlane::start(&ClusterOptions::new()).await.expect("start a control plane");
    write_report(Path::new(&report), &plane);
    std::future::pending::<()>().await;
}

static SHARED: SharedCluster = SharedCluster::new(ClusterOptions::new);

#[tokio::test]
#[ignore = "a helper of a_failed_test_prints_and_keeps_the_logs_and_the_exit_stops_the_shared_cluster"]
async fn helper_that_fails_in_a_shared_cluster() {
    let report = std::env::var_os(HELPER_REPORT_VAR).expect("run only as a helper");
    let namespace = SHARED.namespace().await.expect("a test namespace");
    let plane = namespace.cluster().control_plane().expect("a local control plane");
    write_report(Path::new(&report), plane);
    panic!("this helper fails on purpose");
}

fn start_helper(test: &str, report: &Path) -> Child {
    let exe = std::env::current_exe().expect("the test binary");
    Command::new(exe)
        .args([test, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(HELPER_REPORT_VAR, report)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the helper")
}

/// Writes "pid pid pid" and the run directory on two lines, atomically.
fn write_report(path: &Path, plane: &ControlPlane) {
    let pids: Vec<String> = plane.process_ids().iter().map(|(_, pid)| pid.to_string()).collect();
    let text = format!("{}\n{}\n", pids.join(" "), run_dir(plane).display());
    let partial = path.with_extension("partial");
    fs::write(&partial, text).expect("write the report");
    fs::rename(&partial, path).expect("publish the report");
}

fn read_report(path: &Path) -> Option<(Vec<u32>, PathBuf)> {
    let text = fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let pids = lines.next()?.split(' ').map(|pid| pid.parse().ok()).collect::<Option<_>>()?;
    Some((pids, PathBuf::from(lines.next()?)))
}

fn wait_for_report(helper: &mut Child, path: &Path) -> (Vec<u32>, PathBuf) {
    let started = Instant::now();
    loop {
        if let Some(report) = read_report(path) {
            return report;
        }
        if let Some(status) = helper.try_wait().expect("the helper's status") {
            panic!("the helper exited ({status}) before starting its control plane");
        }
        assert!(started.elapsed() < HELPER_DEADLINE, "the helper started nothing in time");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (with a deadline) for an adopted child to end, and says which signal ended it.
fn reap(pid: u32) -> Option<Signal> {
    let pid = Pid::from_raw(i32::try_from(pid).expect("a pid"));
    let started = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
            WaitStatus::StillAlive => {}
            WaitStatus::Signaled(_, signal, _) => return Some(signal),
            _ => return None,
        }
        assert!(started.elapsed() < Duration::from_secs(30), "process {pid} is still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_dir(plane: &ControlPlane) -> PathBuf {
    plane.kubeconfig().parent().expect("the kubeconfig is in the run directory").to_path_buf()
}

/// Whether the process exists and is no zombie.
fn is_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}
