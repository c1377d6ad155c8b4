//! Per-RPC metrics: the tower layer that counts every gRPC call by
//! service, method and status code and times it, and the two families it
//! fills, `grpc_server_handled_total` and `grpc_server_handling_seconds`,
//! labelled `service`, `method` and `code` as spec 12 §7 names them (not
//! go-grpc-prometheus' `grpc_`-prefixed names; the code values are still
//! spelled as grpc-go spells them).
//!
//! The layer wraps the whole gRPC router from the outside, so calls the
//! auth layer refuses are counted like any other. A call ends when its
//! status is known: at once for a trailers-only response (the status is in
//! the headers, as for every refusal), else when the trailers go out at the
//! end of the body. Labels are bounded: only methods of the served
//! descriptor sets are named; any other path counts as `unknown`.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderMap, Request, Response};
use http_body::{Body, Frame, SizeHint};
use prost::Message as _;
use tower::{Layer, Service};

use super::exposition::{Exposition, Histogram, Kind};

/// Upper bounds of `grpc_server_handling_seconds`. Reads from an indexed
/// database on the same host answer in 1–10 ms, so the low end is fine;
/// governance writes queue on the audit-chain lock and land in the tens to
/// hundreds of milliseconds under contention; source actions that sync a
/// catalog take seconds. Above 30 s are only streams (health Watch,
/// reflection), which end when their client leaves, so finer buckets there
/// would say nothing.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The label value for paths that are not a served method.
const UNKNOWN: &str = "unknown";

/// gRPC status codes by number, spelled as grpc-go and go-grpc-prometheus
/// spell them (`OK`, `Canceled`), which is what dashboards match on.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];
const CANCELED: &str = CODE_NAMES[1];
const UNKNOWN_CODE: &str = CODE_NAMES[2];

/// The name of the code in a `grpc-status` value; anything unreadable or
/// out of range is `Unknown`, as gRPC itself treats it.
pub fn code_name(grpc_status: Option<&[u8]>) -> &'static str {
    grpc_status
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse::<usize>().ok())
        .and_then(|n| CODE_NAMES.get(n).copied())
        .unwrap_or(UNKNOWN_CODE)
}

fn status_in(headers: &HeaderMap) -> Option<&'static str> {
    headers
        .get("grpc-status")
        .map(|v| code_name(Some(v.as_bytes())))
}

#[derive(Debug, Default)]
struct Series {
    /// By (service, method, code).
    handled: BTreeMap<(String, String, &'static str), u64>,
    /// By (service, method).
    latency: BTreeMap<(String, String), Histogram>,
}

/// The per-RPC counts and latencies of one server.
#[derive(Debug)]
pub struct RpcMetrics {
    /// `/package.Service/Method` of every served method.
    methods: HashSet<String>,
    series: Mutex<Series>,
}

impl RpcMetrics {
    /// Metrics that name these method paths (`/package.Service/Method`).
    pub fn new(methods: impl IntoIterator<Item = String>) -> Self {
        RpcMetrics {
            methods: methods.into_iter().collect(),
            series: Mutex::default(),
        }
    }

    /// Metrics that name every method of the given encoded
    /// `FileDescriptorSet`s (the ones the server registers for reflection).
    pub fn from_descriptor_sets(sets: &[&[u8]]) -> Result<Self, prost::DecodeError> {
        let mut methods = Vec::new();
        for set in sets {
            let set = prost_types::FileDescriptorSet::decode(*set)?;
            for file in &set.file {
                let package = file.package();
                for service in &file.service {
                    let service_name = if package.is_empty() {
                        service.name().to_string()
                    } else {
                        format!("{package}.{}", service.name())
                    };
                    for method in &service.method {
                        methods.push(format!("/{service_name}/{}", method.name()));
                    }
                }
            }
        }
        Ok(RpcMetrics::new(methods))
    }

    /// (service, method) of a request path.
    fn labels(&self, path: &str) -> (String, String) {
        if self.methods.contains(path) {
            if let Some((service, method)) = path.trim_start_matches('/').split_once('/') {
                return (service.to_string(), method.to_string());
            }
        }
        (UNKNOWN.to_string(), UNKNOWN.to_string())
    }

    fn record(&self, service: String, method: String, code: &'static str, seconds: f64) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        *series
            .handled
            .entry((service.clone(), method.clone(), code))
            .or_default() += 1;
        series
            .latency
            .entry((service, method))
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(seconds);
    }

    /// Writes both families.
    pub fn encode(&self, out: &mut Exposition) {
        // Copied out so the lock is not held while formatting.
        let (handled, latency) = {
            let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
            (series.handled.clone(), series.latency.clone())
        };
        let mut family = out.family(
            "grpc_server_handled_total",
            Kind::Counter,
            "gRPC calls completed on the server, by status code (refusals by the auth layer included).",
        );
        for ((service, method, code), count) in &handled {
            family.sample(
                &[("service", service), ("method", method), ("code", code)],
                *count as f64,
            );
        }
        let mut family = out.family(
            "grpc_server_handling_seconds",
            Kind::Histogram,
            "Time from receiving a gRPC call to sending its status.",
        );
        for ((service, method), histogram) in &latency {
            family.histogram(&[("service", service), ("method", method)], histogram);
        }
    }
}

/// One call in flight. It is recorded exactly once: with the status it
/// ended with, or as `Canceled` when it is dropped before that (the client
/// went away, so the server never sent a status).
#[derive(Debug)]
struct Call {
    metrics: Arc<RpcMetrics>,
    labels: Option<(String, String)>,
    started: Instant,
}

impl Call {
    fn finish(&mut self, code: &'static str) {
        if let Some((service, method)) = self.labels.take() {
            self.metrics
                .record(service, method, code, self.started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CANCELED);
    }
}

/// Tower layer that records [`RpcMetrics`]. Install it outside the auth
/// layer so refused calls are counted.
#[derive(Debug, Clone)]
pub struct RpcMetricsLayer {
    metrics: Arc<RpcMetrics>,
}

impl RpcMetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<RpcMetrics>) -> Self {
        RpcMetricsLayer { metrics }
    }
}

impl<S> Layer<S> for RpcMetricsLayer {
    type Service = Metered<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Metered {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`RpcMetricsLayer`].
#[derive(Debug, Clone)]
pub struct Metered<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

impl<S, B, R> Service<Request<B>> for Metered<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
    R: Body + Unpin,
{
    type Response = Response<MeteredBody<R>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut call = Call {
            labels: Some(self.metrics.labels(request.uri().path())),
            metrics: self.metrics.clone(),
            started: Instant::now(),
        };
        // Called here, not in the future, so the service made ready by
        // poll_ready is the one that takes the call.
        let response = self.inner.call(request);
        Box::pin(async move {
            match response.await {
                Ok(response) => {
                    let call = match status_in(response.headers()) {
                        Some(code) => {
                            call.finish(code);
                            None
                        }
                        None => Some(call),
                    };
                    Ok(response.map(|inner| MeteredBody { inner, call }))
                }
                Err(error) => {
                    // No response at all reaches the client as a broken
                    // stream, which it can only report as Unknown.
                    call.finish(UNKNOWN_CODE);
                    Err(error)
                }
            }
        })
    }
}

/// A response body that records its call when the trailers pass.
#[derive(Debug)]
pub struct MeteredBody<B> {
    inner: B,
    /// None once recorded (or for trailers-only responses).
    call: Option<Call>,
}

impl<B> MeteredBody<B> {
    fn finish(&mut self, code: &'static str) {
        if let Some(mut call) = self.call.take() {
            call.finish(code);
        }
    }
}

impl<B: Body + Unpin> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.finish(status_in(trailers).unwrap_or(UNKNOWN_CODE));
                }
            }
            // A body that fails, or ends without trailers, carries no
            // status; the client sees Unknown (or a reset) either way.
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => this.finish(UNKNOWN_CODE),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::ServiceExt;

    const GET: &str = "/pkg.Things/Get";

    fn metrics() -> Arc<RpcMetrics> {
        Arc::new(RpcMetrics::new([GET.to_string()]))
    }

    fn handled(metrics: &RpcMetrics) -> Vec<(String, String, &'static str, u64)> {
        let series = metrics.series.lock().unwrap();
        series
            .handled
            .iter()
            .map(|((s, m, c), n)| (s.clone(), m.clone(), *c, *n))
            .collect()
    }

    /// A body of one data frame, then (optionally) trailers.
    struct TwoFrames(Vec<Frame<axum::body::Bytes>>);

    impl Body for TwoFrames {
        type Data = axum::body::Bytes;
        type Error = Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            let frames = &mut self.get_mut().0;
            Poll::Ready((!frames.is_empty()).then(|| Ok(frames.remove(0))))
        }
    }

    fn trailers(status: &str) -> Frame<axum::body::Bytes> {
        let mut map = HeaderMap::new();
        map.insert("grpc-status", status.parse().unwrap());
        Frame::trailers(map)
    }

    async fn drain<B: Body + Unpin>(mut body: B) {
        while std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .is_some()
        {}
    }

    async fn serve(
        metrics: &Arc<RpcMetrics>,
        path: &str,
        headers_status: Option<&'static str>,
        frames: Vec<Frame<axum::body::Bytes>>,
    ) -> Response<MeteredBody<TwoFrames>> {
        let frames = std::sync::Mutex::new(Some(frames));
        let handler = tower::service_fn(move |_: Request<()>| {
            let mut response = Response::new(TwoFrames(frames.lock().unwrap().take().unwrap()));
            if let Some(status) = headers_status {
                response
                    .headers_mut()
                    .insert("grpc-status", status.parse().unwrap());
            }
            async move { Ok::<_, Infallible>(response) }
        });
        RpcMetricsLayer::new(metrics.clone())
            .layer(handler)
            .oneshot(Request::builder().uri(path).body(()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn trailers_only_responses_count_at_once() {
        let m = metrics();
        let response = serve(&m, GET, Some("16"), vec![]).await;
        assert_eq!(
            handled(&m),
            [("pkg.Things".into(), "Get".into(), "Unauthenticated", 1)]
        );
        drop(response);
        assert_eq!(handled(&m).len(), 1, "recorded once, not again on drop");
    }

    #[tokio::test]
    async fn normal_responses_count_when_the_trailers_pass() {
        let m = metrics();
        let data = Frame::data(axum::body::Bytes::from_static(b"x"));
        let response = serve(&m, GET, None, vec![data, trailers("5")]).await;
        assert!(handled(&m).is_empty(), "not before the trailers");
        drain(response.into_body()).await;
        assert_eq!(
            handled(&m),
            [("pkg.Things".into(), "Get".into(), "NotFound", 1)]
        );
        let series = m.series.lock().unwrap();
        let key = ("pkg.Things".to_string(), "Get".to_string());
        assert_eq!(series.latency[&key].count(), 1);
    }

    #[tokio::test]
    async fn missing_status_is_unknown_and_abandoned_calls_are_canceled() {
        let m = metrics();
        let response = serve(&m, GET, None, vec![trailers("not-a-number")]).await;
        drain(response.into_body()).await;
        let response = serve(&m, GET, None, vec![]).await;
        drain(response.into_body()).await;
        let response = serve(&m, GET, None, vec![trailers("0")]).await;
        drop(response);
        assert_eq!(
            handled(&m),
            [
                ("pkg.Things".into(), "Get".into(), "Canceled", 1),
                ("pkg.Things".into(), "Get".into(), "Unknown", 2),
            ]
        );
    }

    #[tokio::test]
    async fn unserved_paths_share_one_label_set() {
        let m = metrics();
        for path in ["/pkg.Things/Steal", "/random/path", "/metrics"] {
            drop(serve(&m, path, Some("12"), vec![]).await);
        }
        assert_eq!(
            handled(&m),
            [("unknown".into(), "unknown".into(), "Unimplemented", 3)]
        );
    }

    #[test]
    fn codes_are_named_like_grpc_go() {
        assert_eq!(code_name(Some(b"0")), "OK");
        assert_eq!(code_name(Some(b"1")), "Canceled");
        assert_eq!(code_name(Some(b"16")), "Unauthenticated");
        assert_eq!(code_name(Some(b"17")), "Unknown");
        assert_eq!(code_name(Some(b"-1")), "Unknown");
        assert_eq!(code_name(None), "Unknown");
    }

    #[test]
    fn methods_come_from_descriptor_sets() {
        let m = RpcMetrics::from_descriptor_sets(&[tonic_health::pb::FILE_DESCRIPTOR_SET]).unwrap();
        assert_eq!(
            m.labels("/grpc.health.v1.Health/Check"),
            ("grpc.health.v1.Health".into(), "Check".into())
        );
        assert_eq!(
            m.labels("/grpc.health.v1.Health/Nope"),
            ("unknown".into(), "unknown".into())
        );
    }

    #[test]
    fn families_are_encoded_with_their_labels() {
        let m = metrics();
        m.record("pkg.Things".into(), "Get".into(), "OK", 0.003);
        let mut out = Exposition::new();
        m.encode(&mut out);
        let text = out.finish();
        assert!(text.contains(
            "grpc_server_handled_total{service=\"pkg.Things\",method=\"Get\",code=\"OK\"} 1\n"
        ));
        assert!(text.contains(
            "grpc_server_handling_seconds_bucket{service=\"pkg.Things\",method=\"Get\",le=\"0.0025\"} 0\n"
        ));
        assert!(text.contains(
            "grpc_server_handling_seconds_bucket{service=\"pkg.Things\",method=\"Get\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains("# TYPE grpc_server_handling_seconds histogram\n"));
    }
}
