//! The HTTP/JSON API: a grpc-gateway (v2) compatible transcoder driven by
//! the `google.api.http` annotations of the descriptor set, read once at
//! start-up into a route table. It owns routing, HTTP -> request message
//! mapping, message -> JSON marshaling and the HTTP face of errors; it
//! owns no behaviour of the API itself: every request becomes an
//! in-process gRPC call on the same tower service that serves gRPC (auth,
//! correlation id, metrics, audit of refusals included), never a call into
//! the application layer.
//!
//! - [`routes`]: path templates and the route table.
//! - [`legacy`]: `/api/{plugin}_catalog/…` paths rewritten onto routes.
//! - [`request`]: body, path variables and query parameters -> message.
//! - [`call`]: the in-process gRPC call, metadata in and out.
//! - [`response`]: message -> JSON with grpc-gateway's default marshaler.
//! - [`wire`]: the same JSON straight from the wire bytes (the fast path).
//! - [`errors`]: the gRPC code -> HTTP status table and the error body.
//! - [`openapi`]: the OpenAPI v2 document of the same routes.
//!
//! Defaults follow grpc-gateway v2: unknown body fields and query
//! parameters are ignored (the strict option refuses them with 400).
//! Bodies above the size limit are refused with 400 INVALID_ARGUMENT, as
//! grpc-gateway reports a body it cannot read.

pub mod call;
pub mod errors;
pub mod legacy;
pub mod openapi;
pub mod request;
pub mod response;
pub mod routes;
pub mod wire;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::response::Response;
use http::{header, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};
use tonic::Code;
use tower::Service;

use errors::GatewayError;
use routes::{Lookup, RouteTable};

/// How the gateway treats input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Refuse unknown body fields and query parameters (400).
    pub strict: bool,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// (plugin, entity plural) of every registered plugin, for the
    /// legacy `/api/{plugin}_catalog/…` paths.
    pub plugins: Vec<(String, String)>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            strict: false,
            max_body_bytes: 4 * 1024 * 1024,
            plugins: Vec::new(),
        }
    }
}

/// The transcoder; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    pool: DescriptorPool,
    routes: RouteTable,
    legacy: legacy::LegacyPaths,
    options: GatewayOptions,
    openapi: String,
}

impl Gateway {
    /// Builds the route table from an encoded FileDescriptorSet.
    pub fn new(descriptor_set: &[u8], options: GatewayOptions) -> Result<Gateway, String> {
        let pool = DescriptorPool::decode(descriptor_set).map_err(|e| e.to_string())?;
        let routes = RouteTable::from_pool(&pool)?;
        let openapi = openapi::render(&pool, &routes);
        let legacy = legacy::LegacyPaths::new(options.plugins.iter().cloned());
        Ok(Gateway {
            inner: Arc::new(Inner {
                pool,
                routes,
                legacy,
                options,
                openapi,
            }),
        })
    }

    /// The route table.
    pub fn routes(&self) -> &RouteTable {
        &self.inner.routes
    }

    /// The OpenAPI v2 document of the routes (JSON text).
    pub fn openapi(&self) -> &str {
        &self.inner.openapi
    }

    /// The descriptor pool the routes come from.
    pub fn pool(&self) -> &DescriptorPool {
        &self.inner.pool
    }

    /// Answers one HTTP request through `grpc`. Never fails: every problem
    /// becomes a JSON error response.
    pub async fn handle<G, B>(&self, grpc: G, request: Request<Body>) -> Response
    where
        G: Service<Request<Body>, Response = http::Response<B>, Error = Infallible>,
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let request_id = request.headers().get("x-request-id").cloned();
        let mut response = match self.transcode(grpc, request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(code = ?error.code, message = %error.message, "HTTP/JSON request refused by the gateway");
                error.into_response()
            }
        };
        if let Some(id) = request_id {
            response.headers_mut().entry("x-request-id").or_insert(id);
        }
        response
    }

    async fn transcode<G, B>(
        &self,
        grpc: G,
        request: Request<Body>,
    ) -> Result<Response, GatewayError>
    where
        G: Service<Request<Body>, Response = http::Response<B>, Error = Infallible>,
        B: http_body::Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let (parts, body) = request.into_parts();
        let (path, query) = match self.inner.legacy.rewrite(parts.uri.path()) {
            Some((path, extra)) => {
                let query = match (parts.uri.query(), extra) {
                    (Some(q), Some(e)) => Some(format!("{q}&{e}")),
                    (q, e) => e.or(q.map(str::to_string)),
                };
                (std::borrow::Cow::Owned(path), query)
            }
            None => (
                std::borrow::Cow::Borrowed(parts.uri.path()),
                parts.uri.query().map(str::to_string),
            ),
        };
        let (route, values) = match self.inner.routes.lookup(&parts.method, &path) {
            Lookup::Found(route, values) => (route, values),
            Lookup::WrongMethod => return Err(GatewayError::wrong_method()),
            Lookup::NotFound => return Err(GatewayError::not_found()),
        };
        let limit = self.inner.options.max_body_bytes;
        let body = http_body_util::Limited::new(body, limit)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    GatewayError::invalid(format!(
                        "the request body is larger than the limit of {limit} bytes"
                    ))
                } else {
                    GatewayError::invalid(format!("cannot read the request body: {e}"))
                }
            })?
            .to_bytes();
        let message = request::build(
            route,
            &values,
            query.as_deref(),
            &body,
            self.inner.options.strict,
        )?;
        let reply = call::unary(
            grpc,
            &route.grpc_path,
            call::metadata(&parts.headers),
            message.encode_to_vec(),
        )
        .await?;
        let mut headers = call::response_headers(&reply);
        if reply.code != Code::Ok {
            let details = reply
                .details
                .as_deref()
                .map(|d| errors::details_json(&self.inner.pool, d))
                .unwrap_or_default();
            return Ok(errors::error_response(
                reply.code,
                &reply.message,
                details,
                headers,
            ));
        }
        let output = route.rpc.output();
        let decode = |frame: &Bytes| {
            DynamicMessage::decode(output.clone(), frame.clone()).map_err(|e| GatewayError {
                code: Code::Internal,
                message: format!("undecodable answer: {e}"),
            })
        };
        let render = |frame: &Bytes| -> Result<serde_json::Value, GatewayError> {
            let json = response::to_json(&decode(frame)?);
            Ok(match &route.response_body {
                Some(field) => json.get(field.json_name()).cloned().unwrap_or_default(),
                None => json,
            })
        };
        let body: Vec<u8> = if route.rpc.is_server_streaming() {
            let mut out = Vec::new();
            for frame in &reply.messages {
                let line = serde_json::json!({ "result": render(frame)? }).to_string();
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
            out
        } else {
            let Some(frame) = reply.messages.first() else {
                return Err(GatewayError {
                    code: Code::Internal,
                    message: "the RPC answered without a message".into(),
                });
            };
            let mut out = Vec::with_capacity(frame.len() * 2);
            match &route.response_body {
                None => match wire::transcode(&output, frame, &mut out) {
                    Ok(()) => out,
                    Err(e) => {
                        tracing::debug!(error = %e, "fast JSON path failed; decoding the answer");
                        response::to_json_bytes(&decode(frame)?)
                    }
                },
                Some(_) => render(frame)?.to_string().into_bytes(),
            }
        };
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(response::CONTENT_TYPE_JSON),
        );
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::OK;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
