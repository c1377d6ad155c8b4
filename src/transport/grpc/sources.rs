//! catalog.v1alpha1.SourceService.

use chrono::Utc;
use tonic::{Request, Response, Status};

use super::{convert, correlation};
use crate::auth::Principal;
use crate::catalog::Catalog;
use crate::domain::paging::{page_size, query_hash, Cursor};
use crate::domain::{Error, Reason};
use crate::proto::catalog::v1alpha1 as pb;
use crate::respond;

/// Serves sources and source actions. Who may call what is decided by
/// the auth layer in front of every service.
pub struct SourceApi {
    catalog: Catalog,
}

impl SourceApi {
    /// A service over the catalog.
    pub fn new(catalog: Catalog) -> Self {
        SourceApi { catalog }
    }

    async fn infos(&self, plugin: &str) -> Result<Vec<pb::SourceInfo>, Error> {
        let engine = self.catalog.engine();
        self.catalog.registry().get(plugin)?;
        let statuses = engine.statuses().await?;
        let mut items: Vec<pb::SourceInfo> = engine
            .effective_sources(Some(plugin))
            .await
            .iter()
            .map(|s| {
                convert::source_info(
                    s,
                    statuses.get(&(s.plugin.clone(), s.definition.id.clone())),
                )
            })
            .collect();
        if let Some(error) = engine.config_error().await {
            items.insert(0, convert::config_pseudo_source(plugin, &error));
        }
        Ok(items)
    }
}

#[tonic::async_trait]
impl pb::source_service_server::SourceService for SourceApi {
    async fn list_sources(
        &self,
        request: Request<pb::ListSourcesRequest>,
    ) -> Result<Response<pb::ListSourcesResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                let all = self.infos(&r.plugin).await?;
                let hash = query_hash(&["sources", &r.plugin]);
                let start = if r.page_token.is_empty() {
                    0
                } else {
                    let cursor = Cursor::decode(&r.page_token, &hash)?;
                    cursor.sort_value.as_u64().unwrap_or(0) as usize
                };
                let size = page_size(r.page_size) as usize;
                let items: Vec<pb::SourceInfo> =
                    all.iter().skip(start).take(size).cloned().collect();
                let next = start + items.len();
                Ok::<_, Error>(pb::ListSourcesResponse {
                    size: items.len() as i32,
                    page_size: size as i32,
                    next_page_token: if next < all.len() {
                        Cursor {
                            sort_value: next.into(),
                            tie: vec![],
                            query_hash: hash,
                        }
                        .encode()
                    } else {
                        String::new()
                    },
                    items,
                })
            }
            .await
        )
    }

    async fn get_source(
        &self,
        request: Request<pb::GetSourceRequest>,
    ) -> Result<Response<pb::SourceInfo>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                self.infos(&r.plugin)
                    .await?
                    .into_iter()
                    .find(|s| s.id == r.source_id)
                    .ok_or_else(|| {
                        Error::new(
                            Reason::SourceNotFound,
                            format!("plugin {:?} has no source {:?}", r.plugin, r.source_id),
                        )
                        .with("plugin", &r.plugin)
                        .with("sourceId", &r.source_id)
                    })
            }
            .await
        )
    }

    async fn execute_source_action(
        &self,
        request: Request<pb::ExecuteSourceActionRequest>,
    ) -> Result<Response<pb::ActionResult>, Status> {
        let cid = correlation(&request);
        let actor = request
            .extensions()
            .get::<Principal>()
            .map(|p| p.subject.clone())
            .unwrap_or_default();
        let r = request.get_ref();
        let started = Utc::now();
        let params = r
            .params
            .as_ref()
            .map(convert::from_struct)
            .unwrap_or_default();
        let outcome = self
            .catalog
            .engine()
            .execute(
                &r.plugin,
                &r.source_id,
                &r.action,
                r.dry_run || r.validate_only,
                &params,
            )
            .await;
        tracing::info!(correlationId = %cid, actor = %actor, plugin = %r.plugin, source = %r.source_id, action = %r.action, dryRun = r.dry_run,
            outcome = if outcome.is_ok() { "success" } else { "failed" }, "source action");
        respond!(
            cid,
            outcome.map(|o| pb::ActionResult {
                action: r.action.clone(),
                status: o.status.into(),
                message: o.message,
                data: Some(convert::value_to_struct(&o.data)),
                action_run_id: uuid::Uuid::new_v4().to_string(),
                started_at: Some(convert::timestamp(started)),
                finished_at: Some(convert::timestamp(Utc::now())),
                diagnostics: convert::diagnostics(&o.diagnostics),
                ..Default::default()
            })
        )
    }
}
