//! The plain-HTTP face of the one listener: `GET /metrics` is answered
//! here, every gRPC request (told apart by its `application/grpc` content
//! type) goes on to the gRPC tower stack, and anything else is 404. HTTP
//! endpoints need no token (spec 08 §4.1), so they sit in front of the
//! stack that holds the auth layer rather than inside it.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::{Service, ServiceExt};

use crate::telemetry::exposition::CONTENT_TYPE;
use crate::telemetry::metrics::Metrics;

/// Whether a request is gRPC (gRPC-Web's `application/grpc-web` too, so
/// it reaches the stack once that transport exists).
pub fn is_grpc(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The router served on the listener: HTTP routes, then `grpc` for gRPC.
pub fn router<G, B>(grpc: G, metrics: Metrics) -> axum::Router
where
    G: Service<Request, Response = axum::http::Response<B>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    G::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    axum::Router::new()
        .route("/metrics", get(scrape))
        .fallback(move |request: Request| {
            let grpc = grpc.clone();
            async move {
                if is_grpc(&request) {
                    let Ok(response) = grpc.oneshot(request).await;
                    response.into_response()
                } else {
                    (
                        StatusCode::NOT_FOUND,
                        "not found: this listener serves gRPC and GET /metrics\n",
                    )
                        .into_response()
                }
            }
        })
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Metrics>) -> Response {
    let text = metrics.render().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], Body::from(text)).into_response()
}
