//! Transports. Today: gRPC (with health and reflection). Every transport
//! calls the same application layer and maps errors through one table.

pub mod grpc;
