//! The gRPC clients generated from the repository's proto/ (build.rs), and
//! the descriptor set they were generated from.

/// catalog.*
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

pub use catalog::governance::v1alpha1 as gpb;
pub use catalog::v1alpha1 as pb;

/// The encoded FileDescriptorSet of proto/ (with its imports).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/catalog_descriptor.bin"));
