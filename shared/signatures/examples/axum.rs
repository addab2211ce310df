//! An axum service that accepts GitHub webhooks only when they verify.
//!
//! ```text
//! WEBHOOK_SECRET=dev-secret cargo run -p inlet-signatures --example axum --features axum
//! ```
//!
//! It prints a `curl` command with a correctly signed request; change one byte of the body
//! and it answers 401. `PORT` picks the port (3000 unless set; 0 for any free one).

use std::sync::Arc;

use axum::routing::post;
use axum::Router;
use inlet_signatures::axum::VerifiedWebhook;
use inlet_signatures::{sign, Secret, SignRequest, Verifier};

async fn github(hook: VerifiedWebhook) -> String {
    let event = hook.headers.text("x-github-event").unwrap_or("unknown");
    format!(
        "verified {event} event, {} bytes, secret #{}\n",
        hook.body.len(),
        hook.verified.secret_index
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("WEBHOOK_SECRET").unwrap_or_else(|_| "dev-secret".into());
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".into());
    let verifier = Arc::new(Verifier::preset(
        "github",
        Default::default(),
        [secret.clone()],
    )?);

    let body = r#"{"zen":"Keep it logically awesome."}"#;
    let headers = sign(
        verifier.scheme(),
        &SignRequest {
            body: body.as_bytes(),
            secret: &Secret::new(secret),
            timestamp: 0,
            id: "",
        },
    )?;

    let app = Router::new()
        .route("/webhooks/github", post(github))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}/webhooks/github");
    let header_args: String = headers
        .iter()
        .map(|(name, value)| format!(" -H '{name}: {value}'"))
        .collect();
    println!(
        "try: curl -s http://{addr}/webhooks/github -H 'x-github-event: ping'{header_args} -d '{body}'"
    );
    axum::serve(listener, app).await?;
    Ok(())
}
