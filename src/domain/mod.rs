//! The domain: rules and types that know nothing of gRPC, HTTP or SQL.
//! Transports and storage translate to and from these types.

pub mod action;
pub mod asset;
pub mod audit;
pub mod error;
pub mod filter;
pub mod governance;
pub mod paging;
pub mod plugin;
pub mod source;
pub mod validation;

pub use error::{Error, Reason, Result};
