//! Child processes that cannot outlive the process that started them.
//!
//! Each component runs in its own process group, so that stopping it reaches anything it
//! started too. Three things stop it:
//! - [`Process::stop`], or dropping the [`Process`] (also while a test panics);
//! - the kernel, when the test process dies in any way, even by `SIGKILL`: the child asks for
//!   `SIGKILL` as its parent-death signal before it runs the component's binary.
//!
//! The parent-death signal fires when the *thread* that forked the child ends, not only the
//! process. Tests run on short-lived threads, so every child is forked by one thread that lives
//! as long as the process (see [`spawn_from_lasting_thread`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{Component, Error};

/// How long a component gets to exit after `SIGTERM` before its group is sent `SIGKILL`.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running component, stopped with its whole process group when dropped.
#[derive(Debug)]
pub(crate) struct Process {
    component: Component,
    child: Child,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Starts `binary` with `args`, its stdout and stderr appended to `log`.
    pub(crate) fn start(
        component: Component,
        binary: &Path,
        args: &[String],
        log: PathBuf,
    ) -> Result<Self, Error> {
        let spawn_error = |source| Error::Spawn { component, binary: binary.to_path_buf(), source };
        let write_error = |source| Error::Write { path: log.clone(), source };
        let stdout = File::options().create(true).append(true).open(&log).map_err(write_error)?;
        let stderr = stdout.try_clone().map_err(write_error)?;
        let mut command = Command::new(binary);
        command.args(args).stdin(Stdio::null()).stdout(stdout).stderr(stderr).process_group(0);
        die_with_parent(&mut command);
        let child = spawn_from_lasting_thread(command).map_err(spawn_error)?;
        Ok(Process { component, child, log, exit: None })
    }

    /// Which component this is.
    pub(crate) fn component(&self) -> Component {
        self.component
    }

    /// Its process id, which is also its process group id.
    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The log file of this component.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Fails with [`Error::ExitedEarly`] if the component has exited.
    pub(crate) fn ensure_running(&mut self) -> Result<(), Error> {
        match self.try_exit_status() {
            None => Ok(()),
            Some(status) => Err(Error::ExitedEarly {
                component: self.component,
                status,
                log: self.log.clone(),
                tail: log_tail(&self.log, 30),
            }),
        }
    }

    /// Stops the process group: `SIGTERM`, then `SIGKILL` if it has not exited in time.
    /// Stopping a process that already stopped does nothing.
    pub(crate) fn stop(&mut self) {
        if self.exit.is_some() {
            return;
        }
        self.signal_group(Signal::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while self.try_exit_status().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        // Also when the leader exited: anything else left in its group goes too.
        self.signal_group(Signal::SIGKILL);
        if self.exit.is_none() {
            self.exit = self.child.wait().ok();
        }
    }

    fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    fn signal_group(&self, signal: Signal) {
        let Ok(pid) = i32::try_from(self.child.id()) else { return };
        // The group is gone already when this fails (ESRCH), which is what we want.
        let _ = killpg(Pid::from_raw(pid), signal);
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Asks the kernel to kill the child when its parent dies.
fn die_with_parent(command: &mut Command) {
    let parent = Pid::this();
    let hook = move || {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        // The parent may have died between fork and prctl; then nobody would send the signal.
        if nix::unistd::getppid() != parent {
            return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
        }
        Ok(())
    };
    #[allow(unsafe_code, reason = "the hook only calls prctl and getppid, both async-signal-safe")]
    // SAFETY: the hook runs between fork and exec; it allocates nothing, takes no lock and
    // touches no state shared with the parent.
    unsafe {
        command.pre_exec(hook);
    }
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` from a thread that lives until the process exits, so that the parent-death
/// signal of the child fires only when the whole process dies.
pub(crate) fn spawn_from_lasting_thread(command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, incoming) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("hotloop-testenv-spawner".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .map(|_| Mutex::new(requests))
            .unwrap_or_else(|error| panic!("could not start the process spawner thread: {error}"))
    });
    let (reply, answer) = mpsc::channel();
    let sent = spawner.lock().unwrap_or_else(PoisonError::into_inner).send((command, reply));
    sent.map_err(|_| io::Error::other("the process spawner thread is gone"))?;
    answer.recv().map_err(|_| io::Error::other("the process spawner thread is gone"))?
}

/// Whether a process with this id exists and has not exited (a zombie counts as exited).
pub(crate) fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // The state follows the command name, which is in parentheses and may contain anything.
    let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X'))
}

/// The last `lines` lines of a log file, or a note saying why it could not be read.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(file) = File::open(path) else {
        return format!("({} could not be read)", path.display());
    };
    let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_process_group_leaves_no_process_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = "sleep 300 & sleep 300";
        let mut process = Process::start(
            Component::Etcd,
            Path::new("/bin/sh"),
            &["-c".to_string(), script.to_string()],
            dir.path().join("sh.log"),
        )
        .expect("start sh");
        let group = Pid::from_raw(i32::try_from(process.child.id()).expect("pid"));
        process.ensure_running().expect("sh is running");
        process.stop();
        // The leader is reaped by `stop`; the background `sleep` dies as soon as the kernel
        // delivers its SIGKILL, and then stays a zombie until some init process reaps it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !live_members(group).is_empty() {
            assert!(Instant::now() < deadline, "still running: {:?}", live_members(group));
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The processes of `group` that have not exited.
    fn live_members(group: Pid) -> Vec<u32> {
        let entries = std::fs::read_dir("/proc").expect("/proc");
        let pids = entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok());
        pids.filter(|&pid: &u32| is_alive(pid) && process_group(pid) == Some(group.as_raw()))
            .collect()
    }

    fn process_group(pid: u32) -> Option<i32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After "(comm)": state, ppid, pgrp.
        stat.rsplit_once(')')?.1.split_whitespace().nth(2)?.parse().ok()
    }

    #[test]
    fn a_process_that_exits_early_reports_the_end_of_its_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut process = Process::start(
            Component::KubeApiserver,
            Path::new("/bin/sh"),
            &["-c".to_string(), "echo first; echo the reason it failed; exit 3".to_string()],
            dir.path().join("sh.log"),
        )
        .expect("start sh");
        let deadline = Instant::now() + Duration::from_secs(10);
        let error = loop {
            match process.ensure_running() {
                Err(error) => break error,
                Ok(()) if Instant::now() > deadline => panic!("sh did not exit"),
                Ok(()) => thread::sleep(Duration::from_millis(10)),
            }
        };
        let Error::ExitedEarly { tail, .. } = error else { panic!("unexpected error {error:?}") };
        assert!(tail.ends_with("the reason it failed"), "tail was {tail:?}");
    }
}
