//! The admin HTTP API. The gateway task publishes what it shows through a
//! watch channel, so a request never touches the gateway itself.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use quirkgate_core::gateway::LineStatus;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the gateway task last published.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub lines: Vec<LineStatus>,
}

pub async fn serve(listener: TcpListener, status: watch::Receiver<Status>) -> anyhow::Result<()> {
    let app = Router::new()
        .route(
            "/",
            get(|| async { "quirkgate admin: see /api/health and /api/lines\n" }),
        )
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })) }),
        )
        .route("/api/lines", get(lines))
        .with_state(status);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn lines(State(status): State<watch::Receiver<Status>>) -> Json<Value> {
    let lines: Vec<Value> = status
        .borrow()
        .lines
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "state": l.state.as_str(),
                "last_status": l.last_status,
                "last_reason": l.last_reason,
                "registrar_error": l.registrar_error,
            })
        })
        .collect();
    Json(Value::Array(lines))
}
