//! catalog.v1alpha1.PluginService.

use tonic::{Request, Response, Status};

use super::{convert, correlation};
use crate::catalog::Catalog;
use crate::proto::catalog::v1alpha1 as pb;
use crate::respond;

/// Serves plugin discovery and capabilities.
pub struct PluginApi {
    catalog: Catalog,
    governance: crate::governance::Governance,
}

impl PluginApi {
    /// A service over the catalog and its governance settings.
    pub fn new(catalog: Catalog, governance: crate::governance::Governance) -> Self {
        PluginApi {
            catalog,
            governance,
        }
    }

    /// A plugin's capabilities with the governance parts in force.
    fn capabilities(
        &self,
        manifest: &crate::domain::plugin::PluginManifest,
    ) -> pb::PluginCapabilities {
        let mut caps = convert::capabilities(manifest);
        super::governance_capabilities::augment(&mut caps, &self.governance.settings());
        caps
    }
}

#[tonic::async_trait]
impl pb::plugin_service_server::PluginService for PluginApi {
    async fn list_plugins(
        &self,
        request: Request<pb::ListPluginsRequest>,
    ) -> Result<Response<pb::ListPluginsResponse>, Status> {
        let cid = correlation(&request);
        respond!(
            cid,
            async {
                let sources = self.catalog.engine().effective_sources(None).await;
                let statuses = self.catalog.engine().statuses().await?;
                let plugins: Vec<pb::PluginInfo> = self
                    .catalog
                    .registry()
                    .all()
                    .iter()
                    .map(|manifest| {
                        let healthy = sources
                            .iter()
                            .filter(|s| s.plugin == manifest.name() && s.enabled)
                            .all(|s| {
                                s.config_error.is_none()
                                    && statuses
                                        .get(&(s.plugin.clone(), s.definition.id.clone()))
                                        .is_none_or(|st| st.state != "error")
                            });
                        let capabilities = self.capabilities(manifest);
                        pb::PluginInfo {
                            name: manifest.name().into(),
                            display_name: manifest.metadata.display_name.clone(),
                            description: manifest.metadata.description.clone(),
                            version: manifest.metadata.version.clone(),
                            healthy,
                            base_path: manifest.base_path(),
                            entity_kinds: vec![manifest.spec.entity.kind.clone()],
                            management: Some(pb::PluginManagement {
                                source_manager: true,
                                refresh: true,
                                diagnostics: true,
                                actions: capabilities
                                    .actions
                                    .iter()
                                    .map(|a| a.id.clone())
                                    .collect(),
                            }),
                            capabilities_v2: Some(capabilities),
                        }
                    })
                    .collect();
                Ok::<_, crate::domain::Error>(pb::ListPluginsResponse {
                    count: plugins.len() as i32,
                    plugins,
                })
            }
            .await
        )
    }

    async fn get_plugin_capabilities(
        &self,
        request: Request<pb::GetPluginCapabilitiesRequest>,
    ) -> Result<Response<pb::PluginCapabilities>, Status> {
        let cid = correlation(&request);
        respond!(
            cid,
            self.catalog
                .registry()
                .get(&request.get_ref().plugin)
                .map(|m| self.capabilities(m))
        )
    }

    async fn get_capabilities(
        &self,
        request: Request<pb::GetCapabilitiesRequest>,
    ) -> Result<Response<pb::GetCapabilitiesResponse>, Status> {
        let cid = correlation(&request);
        let plugin = &request.get_ref().plugin;
        respond!(
            cid,
            (|| {
                let plugins = if plugin.is_empty() {
                    self.catalog
                        .registry()
                        .all()
                        .iter()
                        .map(|m| self.capabilities(m))
                        .collect()
                } else {
                    vec![self.capabilities(self.catalog.registry().get(plugin)?)]
                };
                Ok::<_, crate::domain::Error>(pb::GetCapabilitiesResponse {
                    server: Some(pb::ServerInfo {
                        version: env!("CARGO_PKG_VERSION").into(),
                        build: option_env!("CATALOG_BUILD").unwrap_or("dev").into(),
                        base_url: String::new(),
                    }),
                    plugins,
                })
            })()
        )
    }
}
