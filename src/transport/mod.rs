//! Transports, all on one listener: gRPC (with health and reflection),
//! gRPC-Web, the HTTP/JSON API transcoded from the `google.api.http`
//! annotations, and plain HTTP for `/metrics`. Every transport goes
//! through the same gRPC tower stack and maps errors through one table.

pub mod gateway;
pub mod grpc;
pub mod http;
