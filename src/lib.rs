//! # catalog
//!
//! A governed catalog of AI assets, served over gRPC.
//!
//! - [`domain`] holds the rules: asset identity and digests, plugin
//!   manifests, the filter language, paging, source definitions and
//!   validation. It knows nothing of gRPC or SQL.
//! - [`plugins`] loads manifests (built-in and from a folder) into the
//!   registry every other part reads.
//! - [`sources`] reads CatalogSources files and runs providers that turn
//!   data files into records with provenance.
//! - [`storage`] persists records and source state in SQLite or PostgreSQL.
//! - [`catalog`] is the application layer the transports call.
//! - [`auth`] verifies bearer tokens and enforces the role each RPC needs.
//! - [`transport`] serves the API over gRPC, gRPC-Web and HTTP/JSON (a
//!   grpc-gateway compatible transcoder) and maps errors to google.rpc.Status.
//! - [`server`] wires everything together behind one listener.
//! - [`cli`] is `catalogctl`: a capabilities-driven gRPC client with no
//!   plugin knowledge of its own.

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod governance;
pub mod plugins;
pub mod server;
pub mod sources;
pub mod storage;
pub mod telemetry;
pub mod transport;

/// Generated protobuf types and the descriptor set they came from.
pub mod proto {
    /// Encoded FileDescriptorSet of every proto file (with imports).
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/catalog_descriptor.bin"));

    /// catalog.v1alpha1 and catalog.governance.v1alpha1
    pub mod catalog {
        /// catalog.governance
        pub mod governance {
            /// catalog.governance.v1alpha1
            pub mod v1alpha1 {
                #![allow(missing_docs, clippy::all)]
                tonic::include_proto!("catalog.governance.v1alpha1");
            }
        }

        /// catalog.v1alpha1
        pub mod v1alpha1 {
            #![allow(missing_docs, clippy::all)]
            tonic::include_proto!("catalog.v1alpha1");
        }
    }
}
