//! Transports. Today: gRPC (with health and reflection) and, on the same
//! listener, plain HTTP for `/metrics`. Every transport calls the same
//! application layer and maps errors through one table.

pub mod grpc;
pub mod http;
