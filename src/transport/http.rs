//! The HTTP face of the one listener, told apart by content type:
//! `application/grpc-web*` goes through tonic-web's translation to the
//! gRPC tower stack, `application/grpc*` to the stack itself, `GET
//! /metrics` and `GET /openapi.json` are answered here, and everything
//! else is the HTTP/JSON API ([`crate::transport::gateway`]), which
//! answers unknown paths with a JSON 404. `/metrics` and the OpenAPI
//! document need no token (spec 08 §4.1), so they sit in
//! front of the stack that holds the auth layer; the HTTP/JSON API calls
//! into that stack, so it is authenticated exactly like gRPC.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::{Layer, Service, ServiceExt};

use crate::telemetry::exposition::CONTENT_TYPE;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::probes::Readiness;
use crate::transport::gateway::Gateway;

/// How a request is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// gRPC (`application/grpc`, `application/grpc+proto`, ...).
    Grpc,
    /// gRPC-Web (`application/grpc-web`, `application/grpc-web-text`, ...).
    GrpcWeb,
    /// Anything else: HTTP/JSON.
    Http,
}

/// The protocol of a request, from its content type.
pub fn protocol(request: &Request) -> Protocol {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if content_type.starts_with(b"application/grpc-web") {
        Protocol::GrpcWeb
    } else if content_type.starts_with(b"application/grpc") {
        Protocol::Grpc
    } else {
        Protocol::Http
    }
}

/// The router served on the listener: HTTP routes, then `grpc` for gRPC
/// and gRPC-Web, then the HTTP/JSON gateway.
pub fn router<G, B>(
    grpc: G,
    metrics: Metrics,
    gateway: Gateway,
    readiness: Readiness,
) -> axum::Router
where
    G: Service<Request, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    G::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError> + std::fmt::Display,
{
    let web = tonic_web::GrpcWebLayer::new().layer(tower::util::MapRequest::new(
        grpc.clone(),
        |request: http::Request<tonic::body::Body>| request.map(Body::new),
    ));
    let document = gateway.clone();
    let live = readiness.clone();
    let liveness = move || {
        let uptime = live.uptime_seconds();
        async move {
            json_response(
                StatusCode::OK,
                &serde_json::json!({"status": "alive", "uptimeSeconds": uptime}),
            )
        }
    };
    axum::Router::new()
        .route("/metrics", get(scrape))
        .route("/livez", get(liveness.clone()))
        .route("/healthz", get(liveness))
        .route(
            "/readyz",
            get(move || async move {
                let (ready, body) = readiness.report().await;
                let status = if ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                json_response(status, &body)
            }),
        )
        .route(
            "/openapi.json",
            get(move || {
                let text = document.openapi().to_string();
                async move { ([(header::CONTENT_TYPE, "application/json")], text).into_response() }
            }),
        )
        .fallback(move |request: Request| {
            let grpc = grpc.clone();
            let web = web.clone();
            let gateway = gateway.clone();
            async move {
                match protocol(&request) {
                    Protocol::Grpc => {
                        let Ok(response) = grpc.oneshot(request).await;
                        response.into_response()
                    }
                    Protocol::GrpcWeb => {
                        let Ok(response) = web.oneshot(request).await;
                        response.map(Body::new).into_response()
                    }
                    Protocol::Http => gateway.handle(grpc, request).await,
                }
            }
        })
        .with_state(metrics)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    let text = metrics.render().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], Body::from(text)).into_response()
}
