//! The gRPC clients generated from the repository's proto/ (build.rs).

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
