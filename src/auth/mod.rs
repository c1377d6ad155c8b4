//! Identity (spec 08 §4): verified JWTs become a [`Principal`], one table
//! decides which role each RPC needs, a tower layer enforces both for every
//! call, and loopback servers without a configured key get local
//! development credentials.

pub mod dev;
pub mod layer;
pub mod principal;
pub mod token;

use std::net::IpAddr;
use std::sync::Arc;

pub use dev::DevCredentials;
pub use layer::{is_public, required_role, AuthLayer, LogRefusals, Refusal, RefusalSink};
pub use principal::{Principal, Role};
pub use token::{issue_hs256, AuthSettings, Authenticator, RoleMap, VerificationKey};

use crate::config::ServerConfig;

/// A secret shorter than this is accepted with a warning: HS256 keys should
/// be at least as long as the hash (RFC 7518 §3.2).
const MIN_SECRET_BYTES: usize = 32;

/// The server's identity set-up.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Verifies every call's token.
    pub authenticator: Arc<Authenticator>,
    /// Set when the server generated local development credentials.
    pub dev_credentials: Option<DevCredentials>,
}

/// Builds the identity set-up for a server listening on `listen_ip`; the
/// error is a configuration message (exit code 2).
pub fn configure(config: &ServerConfig, listen_ip: IpAddr) -> Result<Identity, String> {
    let mut role_map = RoleMap::parse(config.jwt_role_map.as_deref().unwrap_or(""))?;
    if let Some(value) = config.jwt_operator_value.as_deref().map(str::trim) {
        if !value.is_empty() {
            role_map.insert(value, Role::Operator.as_str());
        }
    }
    let configured = [
        config.jwt_secret.is_some(),
        config.jwt_secret_file.is_some(),
        config.jwt_public_key_path.is_some(),
    ];
    if configured.iter().filter(|set| **set).count() > 1 {
        return Err("set only one of CATALOG_JWT_SECRET, CATALOG_JWT_SECRET_FILE and CATALOG_JWT_PUBLIC_KEY_PATH".into());
    }
    let key = if let Some(secret) = &config.jwt_secret {
        Some(VerificationKey::Secret(secret.expose().as_bytes().to_vec()))
    } else if let Some(path) = &config.jwt_secret_file {
        Some(token::read_secret(path)?)
    } else if let Some(path) = &config.jwt_public_key_path {
        Some(token::read_public_key(path)?)
    } else {
        None
    };
    if let Some(VerificationKey::Secret(secret)) = &key {
        if secret.len() < MIN_SECRET_BYTES {
            tracing::warn!(
                bytes = secret.len(),
                "the JWT secret is shorter than 32 bytes; tokens signed with it are easier to forge"
            );
        }
    }
    let settings = |key: VerificationKey| AuthSettings {
        key,
        issuer: config.jwt_issuer.clone(),
        audience: config.jwt_audience.clone(),
        principal_claim: config.jwt_principal_claim.clone(),
        role_claim: config.jwt_role_claim.clone(),
        role_map: role_map.clone(),
        allow_anonymous_read: config.allow_anonymous_read,
    };
    if let Some(key) = key {
        return Ok(Identity {
            authenticator: Arc::new(Authenticator::new(settings(key))?),
            dev_credentials: None,
        });
    }
    if !listen_ip.is_loopback() {
        return Err(format!(
            "no JWT secret or public key is configured and the listener {listen_ip} is not loopback; \
             set CATALOG_JWT_SECRET, CATALOG_JWT_SECRET_FILE or CATALOG_JWT_PUBLIC_KEY_PATH \
             (generated development credentials are only used on loopback)"
        ));
    }
    let dir = dev::data_dir(&config.database_url);
    let secret = dev::load_or_create_secret(&dir)?;
    let authenticator = Authenticator::new(settings(VerificationKey::Secret(secret.clone())))?;
    let credentials = dev::ensure_tokens(
        &dir,
        &secret,
        &authenticator,
        config.jwt_issuer.as_deref(),
        config.jwt_audience.as_deref(),
    )?;
    let admin = credentials.admin_token_file().display().to_string();
    let authenticator = authenticator.with_missing_token_hint(format!(
        "this loopback server writes local development tokens, e.g. {admin}"
    ));
    let file = |subject: &str| {
        credentials
            .token_file(subject)
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    };
    tracing::info!(
        dir = %credentials.dir.display(),
        adminToken = %admin,
        approverToken = %file("dev-approver"),
        viewerToken = %file("dev-viewer"),
        "local development credentials (loopback only); send one as `authorization: Bearer $(cat <file>)`"
    );
    Ok(Identity {
        authenticator: Arc::new(authenticator),
        dev_credentials: Some(credentials),
    })
}
