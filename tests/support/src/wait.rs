//! Polling a component until it is ready, with a deadline, failing early when it exits.

use std::future::Future;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;
use crate::process::Process;

/// How often readiness is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long one check may take before it counts as "no answer".
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `check` until it succeeds or `timeout` has passed. Between checks it makes sure that
/// `process` still runs, so a component that crashed is reported at once, with its log.
///
/// `check` returns what it found when the component is not ready yet; the last of these goes
/// into the [`Error::NotReady`] that ends the wait.
pub(crate) async fn until<T, F, Fut>(
    process: &mut Process,
    what: &'static str,
    timeout: Duration,
    mut check: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        process.ensure_running()?;
        let last_seen = match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(seen)) => seen,
            Err(_) => format!("no answer within {CHECK_TIMEOUT:?}"),
        };
        if started.elapsed() >= timeout {
            return Err(Error::NotReady {
                component: process.component(),
                what,
                waited: started.elapsed(),
                last_seen,
                log: process.log().to_path_buf(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Asks etcd's `/health` on `port` over plain HTTP; etcd listens on loopback only.
pub(crate) async fn etcd_health(port: u16) -> Result<(), String> {
    let mut stream =
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.map_err(|error| error.to_string())?;
    let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|error| error.to_string())?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(|error| error.to_string())?;
    let status_line = response.lines().next().unwrap_or_default();
    let healthy = status_line.contains(" 200 ") && response.contains(r#""health":"true""#);
    if healthy { Ok(()) } else { Err(format!("{status_line}; {}", body(&response))) }
}

fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, body)| body.trim())
}
