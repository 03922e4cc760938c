//! A shell session that runs a page's commands one after the other, as a reader would type
//! them into one terminal: variables, the working directory and background jobs carry over
//! from one command to the next.
//!
//! One `bash` reads the commands on its standard input. Each command runs as
//! `{ COMMAND\n} >OUT 2>&1 </dev/null`, so its output (standard error included, as a terminal
//! shows it) lands in a file of its own, and bash then writes the exit status to its standard
//! output, which carries nothing else. The session runs with `pipefail`, stricter than a
//! terminal: a pipe whose first part fails is a broken command.
//!
//! bash and everything it starts, background jobs included, run in one process group of their
//! own, which is ended (`SIGTERM`, then `SIGKILL`) when the session is dropped, also when a
//! test panics, and by a watchdog process when the test process dies without dropping it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// What one command did.
#[derive(Debug)]
pub struct Ran {
    pub status: i32,
    /// Standard output and standard error, interleaved as written.
    pub output: String,
    pub took: Duration,
}

/// A running shell session.
pub struct Session {
    bash: Child,
    /// Ends the session's process group if this test process dies without dropping it.
    watchdog: Child,
    stdin: ChildStdin,
    statuses: Receiver<String>,
    dir: tempfile::TempDir,
    count: usize,
}

impl Session {
    /// Starts bash in `cwd` with exactly the environment `env`.
    pub fn start(cwd: &Path, env: &BTreeMap<String, String>) -> Session {
        let dir = tempfile::tempdir().expect("a directory for the session's output");
        let mut bash = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .current_dir(cwd)
            .env_clear()
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("bash.err")).expect("bash's own stderr"),
            ))
            .process_group(0)
            .spawn()
            .expect("bash starts");
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {test} 2>/dev/null; do sleep 1; done; \
                 kill -s TERM -- -{group} 2>/dev/null; sleep 5; kill -s KILL -- -{group} 2>/dev/null",
                test = std::process::id(),
                group = bash.id(),
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("the watchdog starts");
        let stdin = bash.stdin.take().expect("bash's stdin");
        let stdout = bash.stdout.take().expect("bash's stdout");
        let (send, statuses) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut session = Session { bash, watchdog, stdin, statuses, dir, count: 0 };
        session.send("set -o pipefail\n");
        session
    }

    fn send(&mut self, text: &str) {
        self.stdin.write_all(text.as_bytes()).expect("bash reads its input");
        self.stdin.flush().expect("bash reads its input");
    }

    fn output_file(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("{index}.out"))
    }

    /// What bash itself wrote to standard error (syntax errors, mostly).
    pub fn shell_errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bash.err")).unwrap_or_default()
    }

    /// Runs `command` and waits for it up to `timeout`; `Err` when it did not finish in time
    /// or the shell went away (the session cannot go on either way).
    pub fn run(&mut self, command: &str, timeout: Duration) -> Result<Ran, String> {
        self.count += 1;
        let index = self.count;
        let out = self.output_file(index);
        let started = Instant::now();
        self.send(&format!(
            "{{ {command}\n}} >{out} 2>&1 </dev/null\necho \"__docs_status__ {index} $?\"\n",
            out = shell_quote(&out.display().to_string()),
        ));
        let deadline = started + timeout;
        let status = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.statuses.recv_timeout(left) {
                Ok(line) => {
                    let mut words = line.split_whitespace();
                    if words.next() == Some("__docs_status__")
                        && words.next() == Some(index.to_string().as_str())
                    {
                        break words.next().and_then(|s| s.parse().ok()).unwrap_or(-1);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let output = std::fs::read_to_string(&out).unwrap_or_default();
                    return Err(format!(
                        "did not finish within {timeout:?}; its output so far:\n{output}"
                    ));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("the shell ended; it wrote:\n{}", self.shell_errors()));
                }
            }
        };
        let output = std::fs::read_to_string(&out).unwrap_or_default();
        Ok(Ran { status, output, took: started.elapsed() })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        let group = self.bash.id();
        signal_group(group, "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.bash.try_wait(), Ok(Some(_))) && !group_alive(group) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        signal_group(group, "KILL");
        let _ = self.bash.wait();
    }
}

/// `text` as one word for bash.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

// Signals go to the whole process group through kill(1): the host crate has no libc binding
// among its test dependencies.
fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
}

fn group_alive(group: u32) -> bool {
    Command::new("kill")
        .args(["-0", "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
