//! The admin HTTP API. Later issues add lines, calls and the web pages.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;

pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/", get(|| async { "quirkgate admin: see /api/health\n" }))
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") })) }),
        );
    axum::serve(listener, app).await?;
    Ok(())
}
