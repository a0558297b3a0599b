//! A local webhook that records the JSON bodies POSTed to `/hook` (an Alertmanager stand-in for
//! the alert tests).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::routing::post;

/// Webhook bodies received, in order.
pub(crate) type Hooks = Arc<Mutex<Vec<serde_json::Value>>>;

/// Serves `POST /hook` on a free port; returns the port, the bodies and the server task.
pub(crate) async fn start_webhook() -> (u16, Hooks, tokio::task::JoinHandle<()>) {
    async fn hook(State(seen): State<Hooks>, body: String) -> &'static str {
        let value = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
        seen.lock().unwrap().push(value);
        "ok"
    }
    let seen: Hooks = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind webhook");
    let port = listener.local_addr().expect("address").port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, seen, task)
}
