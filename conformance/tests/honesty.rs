//! The harness is honest: run against a server that breaks one rule, it
//! fails and names that rule. Each broken server is the real catalog
//! server (in process) behind a gRPC proxy that bends exactly one
//! behaviour; with the proxy passing everything through, the same run
//! passes, so the failures come from the broken rule and nothing else.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use catalog_conformance::proto::{gpb, pb};
use catalog_conformance::report::Verdict;
use clap::Parser;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Incoming;
use prost::Message;
use tonic::transport::Channel;
use tower::ServiceExt;

/// The one rule a proxy breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Passes everything through.
    None,
    /// Answers every lifecycle.setState to archived with success, whatever
    /// the state (so draft -> archived "works").
    AcceptsAnyArchive,
    /// Leaves governance.update events out of audit listings.
    SkipsUpdateEvents,
    /// Lets a requester approve their own request (the decision reaches
    /// the server as an approver's).
    LetsRequesterApprove,
    /// Answers GetPluginCapabilities with a document whose columns have a
    /// type outside spec 09's list and whose first action has no scope:
    /// nothing but the JSON Schema forbids either.
    BreaksCapabilities,
    /// Renames the `provider` key in the JSON the legacy model catalog
    /// routes (`/api/model_catalog/…`, plain HTTP) answer: the kind of
    /// drift a Kubeflow client would trip over.
    RenamesLegacyModelKey,
}

#[derive(Clone)]
struct Proxy {
    upstream: Channel,
    fault: Fault,
    approver_token: String,
}

const SECRET: &str = "conformance-honesty-secret-0123456789abcdef";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

async fn start_server(dir: &std::path::Path) -> catalog::server::RunningServer {
    let config = catalog::config::ServerConfig::parse_from([
        "catalog-server".to_string(),
        "--database-url".into(),
        format!("sqlite://{}/catalog.db", dir.display()),
        "--jwt-secret".into(),
        SECRET.into(),
        "--approval-policies".into(),
        fixtures()
            .join("approval-policies.yaml")
            .display()
            .to_string(),
        "--source-roots".into(),
        fixtures().display().to_string(),
        "--sources".into(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../samples/catalog-sources.yaml")
            .display()
            .to_string(),
        "--db-max-connections".into(),
        "5".into(),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    catalog::server::start(config, Some(listener))
        .await
        .expect("server starts")
}

fn token(subject: &str, roles: &[&str]) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": subject, "roles": roles, "iat": now, "exp": now + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

type ProxyBody = tonic::body::Body;

/// The subject the harness mints for its operator.
const OPERATOR: &str = "ct-operator";

/// The `sub` claim of a bearer token (unverified: the server verifies).
fn subject_of(header: &str) -> Option<String> {
    use base64::Engine;
    let payload = header.strip_prefix("Bearer ")?.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims["sub"].as_str().map(str::to_string)
}

/// A unary gRPC message as its 5-byte framed form.
fn frame(message: &impl Message) -> Bytes {
    let body = message.encode_to_vec();
    let mut out = BytesMut::with_capacity(body.len() + 5);
    out.extend_from_slice(&[0]);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out.freeze()
}

fn unframe<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes.get(5..)?).ok()
}

/// A successful gRPC response carrying `data` and `trailers`.
fn grpc_response(data: Bytes, trailers: http::HeaderMap) -> http::Response<ProxyBody> {
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(data)),
        Ok(Frame::trailers(trailers)),
    ];
    let body = StreamBody::new(futures_util::stream::iter(frames));
    http::Response::builder()
        .header("content-type", "application/grpc")
        .body(ProxyBody::new(body))
        .unwrap()
}

fn ok_trailers() -> http::HeaderMap {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", "0".parse().unwrap());
    trailers
}

async fn handle(
    proxy: Proxy,
    request: http::Request<Incoming>,
) -> Result<http::Response<ProxyBody>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    if proxy.fault == Fault::AcceptsAnyArchive && path.ends_with("/ExecuteGovernanceAction") {
        if let Some(call) = unframe::<gpb::ExecuteGovernanceActionRequest>(&bytes) {
            let to = call
                .params
                .as_ref()
                .and_then(|p| p.fields.get("state"))
                .and_then(|v| match &v.kind {
                    Some(prost_types::value::Kind::StringValue(s)) => Some(s.clone()),
                    _ => None,
                });
            if call.action == "lifecycle.setState" && to.as_deref() == Some("archived") {
                let result = pb::ActionResult {
                    action: call.action,
                    status: "completed".into(),
                    message: "archived".into(),
                    ..Default::default()
                };
                return Ok(grpc_response(frame(&result), ok_trailers()));
            }
        }
    }
    if proxy.fault == Fault::LetsRequesterApprove && path.ends_with("/ApproveRequest") {
        let caller = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(subject_of);
        if caller.as_deref() == Some(OPERATOR) {
            parts.headers.insert(
                "authorization",
                format!("Bearer {}", proxy.approver_token).parse().unwrap(),
            );
        }
    }
    let forwarded =
        http::Request::from_parts(parts, ProxyBody::new(http_body_util::Full::new(bytes)));
    let response = match proxy.upstream.clone().oneshot(forwarded).await {
        Ok(response) => response,
        Err(e) => {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", "14".parse().unwrap());
            trailers.insert(
                "grpc-message",
                format!("proxy: {e}").replace('\n', " ").parse().unwrap(),
            );
            return Ok(grpc_response(Bytes::new(), trailers));
        }
    };
    if proxy.fault == Fault::RenamesLegacyModelKey && path.starts_with("/api/model_catalog/") {
        return Ok(rename_provider_key(response).await);
    }
    if proxy.fault == Fault::SkipsUpdateEvents && path.ends_with("/ListAuditEvents") {
        return Ok(
            rewrite(response, |listing: &mut gpb::ListAuditEventsResponse| {
                listing.events.retain(|e| e.action != "governance.update");
            })
            .await,
        );
    }
    if proxy.fault == Fault::BreaksCapabilities && path.ends_with("/GetPluginCapabilities") {
        return Ok(rewrite(response, |caps: &mut pb::PluginCapabilities| {
            for entity in &mut caps.entities {
                for column in entity.fields.iter_mut().flat_map(|f| f.columns.iter_mut()) {
                    column.r#type = "sparkline".into();
                }
            }
            if let Some(action) = caps.actions.first_mut() {
                action.scope.clear();
            }
        })
        .await);
    }
    Ok(response)
}

/// The upstream response with its message changed by `edit` (passed on
/// unchanged when it is not an `M`).
async fn rewrite<M: Message + Default>(
    response: http::Response<ProxyBody>,
    edit: impl FnOnce(&mut M),
) -> http::Response<ProxyBody> {
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("upstream body");
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let data = collected.to_bytes();
    let data = match unframe::<M>(&data) {
        Some(mut message) => {
            edit(&mut message);
            frame(&message)
        }
        None => data,
    };
    let mut rebuilt = grpc_response(data, trailers);
    *rebuilt.headers_mut() = parts.headers;
    rebuilt
}

/// The HTTP answer with every `"provider":` key renamed `"vendor":`
/// (compact JSON, as the gateway writes it).
async fn rename_provider_key(response: http::Response<ProxyBody>) -> http::Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let renamed = String::from_utf8_lossy(&body).replace("\"provider\":", "\"vendor\":");
    // The length changed; let the server side frame the new body.
    parts.headers.remove(http::header::CONTENT_LENGTH);
    http::Response::from_parts(
        parts,
        ProxyBody::new(http_body_util::Full::new(Bytes::from(renamed))),
    )
}

/// Serves the proxy in front of `upstream`; returns its address.
async fn start_proxy(upstream: SocketAddr, fault: Fault) -> SocketAddr {
    let channel = Channel::from_shared(format!("http://{upstream}"))
        .unwrap()
        .connect_lazy();
    let proxy = Proxy {
        upstream: channel,
        fault,
        approver_token: token("ct-approver-1", &["approver"]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((io, _)) = listener.accept().await else {
                return;
            };
            let proxy = proxy.clone();
            let service = hyper::service::service_fn(move |request| handle(proxy.clone(), request));
            tokio::spawn(async move {
                // gRPC arrives over HTTP/2, the harness's plain HTTP checks
                // over HTTP/1.1.
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(io), service)
                .await;
            });
        }
    });
    addr
}

/// Runs the suite on `plugins` through a proxy with `fault`; returns the
/// ids of the failed checks.
async fn failed_checks(fault: Fault, plugins: &[&str]) -> Vec<&'static str> {
    failures(fault, plugins)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// The failed checks of a run through a proxy with `fault`, with why.
async fn failures(fault: Fault, plugins: &[&str]) -> Vec<(&'static str, String)> {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path()).await;
    let proxy = start_proxy(server.addr, fault).await;
    let secret = dir.path().join("secret");
    std::fs::write(&secret, SECRET).unwrap();
    let mut argv = vec![
        "catalog-conformance".to_string(),
        "--target".into(),
        proxy.to_string(),
        "--jwt-secret-file".into(),
        secret.display().to_string(),
        "--quick".into(),
        "--fixtures".into(),
        fixtures().display().to_string(),
    ];
    for plugin in plugins {
        argv.extend(["--plugin".to_string(), plugin.to_string()]);
    }
    let args = catalog_conformance::Args::parse_from(argv);
    let report = catalog_conformance::run(args)
        .await
        .expect("the run starts");
    server.stop().await;
    let mut failed: Vec<(&'static str, String)> = report
        .results()
        .into_iter()
        .filter_map(|r| match r.verdict {
            Verdict::Failed(why) => Some((r.id, why)),
            _ => None,
        })
        .collect();
    failed.dedup_by(|a, b| a.0 == b.0);
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_transparent_proxy_every_check_passes() {
    // model too: its BWC-01 goldens pass through the proxy untouched.
    assert_eq!(
        failed_checks(Fault::None, &["mcp", "model"]).await,
        Vec::<&str>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_archives_drafts_fails_the_forbidden_transition_check() {
    let failed = failed_checks(Fault::AcceptsAnyArchive, &["mcp"]).await;
    assert!(failed.contains(&"LCY-03"), "failed checks: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_skips_an_audit_event_fails_the_audit_check() {
    let failed = failed_checks(Fault::SkipsUpdateEvents, &["mcp"]).await;
    assert!(failed.contains(&"AUD-01"), "failed checks: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_lets_requesters_approve_fails_the_self_approval_check() {
    let failed = failed_checks(Fault::LetsRequesterApprove, &["mcp"]).await;
    assert!(failed.contains(&"APR-03"), "failed checks: {failed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_capabilities_break_the_schema_fails_the_schema_check() {
    let failed = failures(Fault::BreaksCapabilities, &["mcp"]).await;
    let why = failed
        .iter()
        .find(|(id, _)| *id == "CAP-01")
        .map(|(_, why)| why.as_str())
        .unwrap_or_else(|| panic!("CAP-01 passed; failed checks: {failed:?}"));
    // Each violation is named by where it is and what is wrong.
    assert!(
        why.contains("/entities/0/fields/columns/0/type: \"sparkline\""),
        "{why}"
    );
    assert!(
        why.contains("/actions/0: \"scope\" is a required property"),
        "{why}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_renames_a_legacy_model_key_fails_the_model_catalog_goldens() {
    // Only the goldens notice: the other checks read fields by other names
    // or over gRPC.
    let failed = failed_checks(Fault::RenamesLegacyModelKey, &["model"]).await;
    assert_eq!(failed, vec!["BWC-01"]);
}
