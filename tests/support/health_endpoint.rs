//! A `/health` endpoint the test can stop and start again on the same address: the target of
//! an `httpcheck` receiver whose failures the alert tests provoke.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A `/health` endpoint answering 200.
pub(crate) struct Endpoint {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Serves `GET /health` → 200 on `addr` (retrying the bind briefly: the previous server may
/// just have released it).
pub(crate) async fn serve_health(addr: SocketAddr) -> Endpoint {
    let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" }));
    let started = Instant::now();
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) if started.elapsed() < Duration::from_secs(10) => {
                eprintln!("bind {addr}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Endpoint { stop, task }
}

impl Endpoint {
    /// Stops it; returns when its listener and connections are closed: the moment from which
    /// a probe fails.
    pub(crate) async fn down(self) -> SystemTime {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        SystemTime::now()
    }
}
