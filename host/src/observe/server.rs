//! The HTTP endpoints for Prometheus and the kubelet: `/metrics`, `/healthz` and `/readyz`.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::{CONTENT_TYPE, Metrics, Readiness, Role};

#[derive(Debug, Clone)]
struct Endpoints {
    metrics: Arc<Metrics>,
    readiness: Readiness,
}

/// Serves the endpoints on `listener` until `shutdown` completes.
///
/// | path | answer |
/// |---|---|
/// | `GET /metrics` | 200, every metric in the OpenMetrics text format |
/// | `GET /healthz` | 200 `ok` for as long as the process serves: the liveness probe |
/// | `GET /readyz` | 200 when `readiness` is set, 503 `not ready` otherwise: the readiness probe; the body of a 200 is `ok`, or `ok: leader` / `ok: standby` under leader election |
///
/// Other paths get 404 and other methods 405; `HEAD` is answered like `GET`, without a body.
///
/// # Guarantees
/// Once `shutdown` completes, no new connection is accepted; requests in flight are answered
/// and idle keep-alive connections are closed before this returns.
///
/// # Errors
/// None in practice: a failed accept is logged and retried by axum, so the result is `Ok`
/// once shutdown is done.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    readiness: Readiness,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    }
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Endpoints { metrics, readiness });
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn metrics_text(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], endpoints.metrics.encode())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(endpoints): State<Endpoints>) -> (StatusCode, &'static str) {
    if endpoints.readiness.is_ready() {
        let body = match endpoints.readiness.role() {
            Role::Alone => "ok",
            Role::Leader => "ok: leader",
            Role::Standby => "ok: standby",
        };
        (StatusCode::OK, body)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::SocketAddr;
    use std::time::Duration;

    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    use super::*;

    struct Running {
        address: SocketAddr,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    async fn start(metrics: Arc<Metrics>, readiness: Readiness) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(serve(listener, metrics, readiness, shutdown));
        Running { address, stop, task }
    }

    struct Response {
        status: u16,
        head: String,
        body: String,
    }

    /// One HTTP/1.1 request on a fresh connection, with a plain blocking socket.
    async fn request(address: SocketAddr, method: &str, path: &str) -> Response {
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        let raw = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut raw = String::new();
            stream.read_to_string(&mut raw).unwrap();
            raw
        })
        .await
        .unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        Response { status, head: head.to_ascii_lowercase(), body: body.to_owned() }
    }

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics_text() {
        let metrics = Arc::new(Metrics::new());
        metrics.plugin_load("site", "loaded");
        let server = start(metrics, Readiness::new()).await;
        let response = request(server.address, "GET", "/metrics").await;
        assert_eq!(response.status, 200);
        assert!(
            response.head.contains(
                "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"
            )
        );
        assert!(
            response
                .body
                .contains(r#"hotloop_plugin_loads_total{plugin="site",result="loaded"} 1"#)
        );
        assert!(response.body.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn healthz_answers_ok_even_before_the_host_is_ready() {
        let server = start(Arc::new(Metrics::new()), Readiness::new()).await;
        let response = request(server.address, "GET", "/healthz").await;
        assert_eq!((response.status, response.body.as_str()), (200, "ok"));
    }

    #[tokio::test]
    async fn readyz_follows_the_readiness_switch() {
        let readiness = Readiness::new();
        let server = start(Arc::new(Metrics::new()), readiness.clone()).await;
        let response = request(server.address, "GET", "/readyz").await;
        assert_eq!((response.status, response.body.as_str()), (503, "not ready"));
        readiness.set_ready(true);
        let response = request(server.address, "GET", "/readyz").await;
        assert_eq!((response.status, response.body.as_str()), (200, "ok"));
    }

    #[tokio::test]
    async fn readyz_says_whether_a_ready_instance_leads_or_stands_by() {
        let readiness = Readiness::new();
        readiness.set_ready(true);
        let server = start(Arc::new(Metrics::new()), readiness.clone()).await;
        for (role, body) in [(Role::Standby, "ok: standby"), (Role::Leader, "ok: leader")] {
            readiness.set_role(role);
            let response = request(server.address, "GET", "/readyz").await;
            assert_eq!((response.status, response.body.as_str()), (200, body));
        }
    }

    #[tokio::test]
    async fn unknown_paths_and_methods_are_refused() {
        let server = start(Arc::new(Metrics::new()), Readiness::new()).await;
        assert_eq!(request(server.address, "GET", "/nope").await.status, 404);
        assert_eq!(request(server.address, "POST", "/metrics").await.status, 405);
    }

    #[tokio::test]
    async fn the_server_returns_once_shutdown_completes() {
        let server = start(Arc::new(Metrics::new()), Readiness::new()).await;
        assert_eq!(request(server.address, "GET", "/healthz").await.status, 200);
        server.stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server.task).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
        assert!(std::net::TcpStream::connect(server.address).is_err());
    }
}
