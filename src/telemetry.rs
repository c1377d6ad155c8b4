//! Logs, request correlation and metrics. Logs are JSON lines by default; every
//! request gets a correlation id (from `x-request-id`, then
//! `x-correlation-id`, else a new UUID) that is echoed back in the response
//! metadata and attached to every log line and error of that request.
//! Metrics: [`rpc`] counts and times every gRPC call, [`metrics`] gathers
//! what `GET /metrics` exports, [`exposition`] writes the text format.
//! [`probes`] answers liveness and readiness.

pub mod exposition;
pub mod metrics;
pub mod probes;
pub mod rpc;

use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};
use tracing::Instrument;

/// The correlation id of a request, in its extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationId(pub String);

/// Accepts an inbound id of 1–128 characters from `[A-Za-z0-9._:-]`.
pub fn accept_request_id(value: &str) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    ok.then(|| value.to_string())
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global subscriber. `filter` uses tracing's env-filter syntax.
pub fn init(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Tower layer that assigns correlation ids.
#[derive(Debug, Clone, Default)]
pub struct CorrelationLayer;

impl<S> Layer<S> for CorrelationLayer {
    type Service = Correlation<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Correlation { inner }
    }
}

/// See [`CorrelationLayer`].
#[derive(Debug, Clone)]
pub struct Correlation<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for Correlation<S>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(accept_request_id)
        };
        let id = header("x-request-id")
            .or_else(|| header("x-correlation-id"))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let method = request.uri().path().to_string();
        request.extensions_mut().insert(CorrelationId(id.clone()));
        let span = tracing::info_span!("request", correlationId = %id, grpcMethod = %method);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(
            async move {
                let started = std::time::Instant::now();
                let mut response = inner.call(request).await?;
                if let Ok(value) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert("x-request-id", value);
                }
                let grpc_status = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).unwrap_or("0").to_string();
                tracing::debug!(durationMs = started.elapsed().as_millis() as u64, grpcStatus = %grpc_status, "request finished");
                Ok(response)
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert_eq!(
            accept_request_id("abc-123:x.y_z").as_deref(),
            Some("abc-123:x.y_z")
        );
        assert!(accept_request_id("").is_none());
        assert!(accept_request_id("has space").is_none());
        assert!(accept_request_id(&"a".repeat(129)).is_none());
    }
}
