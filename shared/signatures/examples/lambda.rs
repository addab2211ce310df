//! A `lambda_http` function that accepts Slack events only when they verify, and answers
//! Slack's `url_verification` handshake.
//!
//! Deployed (e.g. `cargo lambda build --example lambda --features lambda_http`), it serves
//! API Gateway or a function URL with `SLACK_SIGNING_SECRET` set. Run locally, with no
//! Lambda runtime around, it feeds itself a signed event, a forged one and a handshake and
//! prints each answer:
//!
//! ```text
//! cargo run -p inlet-signatures --example lambda --features lambda_http
//! ```

use inlet_signatures::{lambda, sign, Checked, Secret, SignRequest, Verifier};
use lambda_http::{service_fn, Body, Error, Request, Response};

async fn handle(verifier: &Verifier, req: Request) -> Result<Response<Body>, Error> {
    Ok(match lambda::check(verifier, &req) {
        Ok(Checked::Event(_)) => {
            // The body verified: hand it to your queue or your business logic here.
            Response::builder().status(202).body(Body::Empty)?
        }
        Ok(Checked::Handshake(answer)) => lambda::response(&answer),
        Err(e) => lambda::response(&e.answer()),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let secret = std::env::var("SLACK_SIGNING_SECRET").unwrap_or_else(|_| "dev-secret".into());
    let verifier = Verifier::preset("slack", Default::default(), [secret.clone()])?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let verifier = &verifier;
        return lambda_http::run(service_fn(move |req| handle(verifier, req))).await;
    }

    // No Lambda runtime: show what the function answers.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let signed = |body: &str| -> Result<Request, Error> {
        let mut req = lambda_http::http::Request::post("/slack/events");
        for (name, value) in sign(
            verifier.scheme(),
            &SignRequest {
                body: body.as_bytes(),
                secret: &Secret::new(secret.clone()),
                timestamp: now,
                id: "",
            },
        )? {
            req = req.header(name, value);
        }
        Ok(req.body(Body::Text(body.to_string()))?)
    };
    let event = r#"{"type":"event_callback","event":{"type":"app_mention"}}"#;
    let mut forged = signed(event)?;
    *forged.body_mut() = Body::Text(event.replace("app_mention", "member_joined"));
    for (what, req) in [
        ("signed event", signed(event)?),
        ("forged event", forged),
        (
            "url_verification",
            signed(
                r#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#,
            )?,
        ),
    ] {
        let response = handle(&verifier, req).await?;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        println!("{what}: {} {body}", response.status());
    }
    Ok(())
}
