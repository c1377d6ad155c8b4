//! The gRPC connection: one lazily connected channel that sends the bearer
//! token and the correlation id with every call, and typed clients of each
//! service over it.

use std::time::Duration;

use tonic::metadata::AsciiMetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use super::config::Settings;
use super::errors::CliError;
use crate::proto::catalog::governance::v1alpha1 as gpb;
use crate::proto::catalog::v1alpha1 as pb;

/// Adds `authorization` and `x-correlation-id` to every call.
#[derive(Clone)]
pub struct Headers {
    bearer: Option<AsciiMetadataValue>,
    correlation: Option<AsciiMetadataValue>,
}

impl tonic::service::Interceptor for Headers {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.bearer {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        if let Some(value) = &self.correlation {
            request
                .metadata_mut()
                .insert("x-correlation-id", value.clone());
        }
        Ok(request)
    }
}

/// The channel every client shares.
pub type Conn = InterceptedService<Channel, Headers>;

/// Clients of every service the CLI calls.
#[derive(Clone)]
pub struct Clients {
    conn: Conn,
}

impl Clients {
    /// Connects to the configured server.
    pub async fn connect(settings: &Settings) -> Result<Clients, CliError> {
        let bearer = match &settings.token {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| CliError::usage("the token holds characters a header cannot"))?,
            ),
            None => None,
        };
        let correlation = match &settings.correlation_id {
            Some(id) => Some(
                id.parse()
                    .map_err(|_| CliError::usage("the correlation id must be ASCII"))?,
            ),
            None => None,
        };
        let endpoint = Endpoint::from_shared(settings.server.clone())
            .map_err(|e| CliError::usage(format!("bad server address {:?}: {e}", settings.server)))?
            .connect_timeout(Duration::from_secs(10));
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| CliError::Unreachable(format!("cannot reach {}: {e}", settings.server)))?;
        Ok(Clients {
            conn: InterceptedService::new(
                channel,
                Headers {
                    bearer,
                    correlation,
                },
            ),
        })
    }

    /// PluginService.
    pub fn plugins(&self) -> pb::plugin_service_client::PluginServiceClient<Conn> {
        pb::plugin_service_client::PluginServiceClient::new(self.conn.clone())
    }

    /// AssetService.
    pub fn assets(&self) -> pb::asset_service_client::AssetServiceClient<Conn> {
        pb::asset_service_client::AssetServiceClient::new(self.conn.clone())
    }

    /// SourceService.
    pub fn sources(&self) -> pb::source_service_client::SourceServiceClient<Conn> {
        pb::source_service_client::SourceServiceClient::new(self.conn.clone())
    }

    /// GovernanceService.
    pub fn governance(&self) -> gpb::governance_service_client::GovernanceServiceClient<Conn> {
        gpb::governance_service_client::GovernanceServiceClient::new(self.conn.clone())
    }

    /// ApprovalService.
    pub fn approvals(&self) -> gpb::approval_service_client::ApprovalServiceClient<Conn> {
        gpb::approval_service_client::ApprovalServiceClient::new(self.conn.clone())
    }

    /// grpc.health.v1.Health.
    pub fn health(&self) -> tonic_health::pb::health_client::HealthClient<Conn> {
        tonic_health::pb::health_client::HealthClient::new(self.conn.clone())
    }

    /// AuditService.
    pub fn audit(&self) -> gpb::audit_service_client::AuditServiceClient<Conn> {
        gpb::audit_service_client::AuditServiceClient::new(self.conn.clone())
    }
}
