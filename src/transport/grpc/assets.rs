//! catalog.v1alpha1.AssetService: asset reads, and ExecuteAssetAction
//! handed to the governance service.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;
use tonic::{Request, Response, Status};

use super::{caller, convert, correlation};
use crate::catalog::{native_record, Catalog, ListParams, NativeKey, ReadCache};
use crate::domain::{Error, Reason};
use crate::governance::actions::ActionCall;
use crate::proto::catalog::v1alpha1 as pb;
use crate::respond;

/// Serves asset reads and asset actions.
pub struct AssetApi {
    catalog: Catalog,
    governance: crate::governance::Governance,
    answers: Arc<ReadCache>,
}

impl AssetApi {
    /// A service over the catalog (and the governance settings, for the
    /// governance actions a plugin lists), keeping encoded GetAsset answers
    /// in `answers`.
    pub fn new(
        catalog: Catalog,
        governance: crate::governance::Governance,
        answers: Arc<ReadCache>,
    ) -> Self {
        AssetApi {
            catalog,
            governance,
            answers,
        }
    }

    /// GetAsset's answer as an encoded `AssetResource`. Repeated reads of
    /// an unchanged asset are served from the cache as they are: no query,
    /// no assembly, no encoding ([`super::encoded`] writes them out).
    pub async fn get_asset_encoded(
        &self,
        request: Request<pb::GetAssetRequest>,
    ) -> Result<Response<Bytes>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.plugin, "plugin")?;
                required(&r.kind, "kind")?;
                required(&r.name, "name")?;
                let key = self.catalog.asset_key(&r.plugin, &r.kind, &r.name)?;
                let generation = self.catalog.view_generation();
                if let Some(answer) = self.answers.get(&key, generation) {
                    return Ok(answer);
                }
                let view = self.catalog.get(&r.plugin, &r.kind, &r.name).await?;
                let answer = Bytes::from(convert::asset(&view).encode_to_vec());
                self.answers.put(key, answer.clone(), generation);
                Ok(answer)
            }
            .await
        )
    }
}

fn params(r: &pb::ListAssetsRequest) -> ListParams {
    ListParams {
        filter_query: r.filter_query.clone(),
        lifecycle_states: r.lifecycle_state.clone(),
        include_archived: r.include_archived,
        risk_levels: r.risk_level.clone(),
        compliance_tags: r.compliance_tag.clone(),
        owner: r.owner.clone(),
        team: r.team.clone(),
        source_id: r.source_id.clone(),
        labels: r.label.clone(),
        q: r.q.clone(),
        page_size: r.page_size,
        page_token: r.page_token.clone(),
        order_by: r.order_by.clone(),
        sort_order: r.sort_order.clone(),
        include_total: r.include_total,
    }
}

fn page_response(page: crate::catalog::AssetPage) -> pb::ListAssetsResponse {
    pb::ListAssetsResponse {
        api_version: "catalog/v1alpha1".into(),
        kind: "AssetList".into(),
        size: page.items.len() as i32,
        items: page.items.iter().map(convert::asset).collect(),
        next_page_token: page.next_page_token,
        total_size: page.total.unwrap_or(0),
    }
}

fn required(value: &str, field: &str) -> Result<(), Error> {
    if value.is_empty() {
        Err(
            Error::new(Reason::InvalidParams, format!("{field} is required"))
                .violation(field, "required"),
        )
    } else {
        Ok(())
    }
}

#[tonic::async_trait]
impl pb::asset_service_server::AssetService for AssetApi {
    async fn list_assets(
        &self,
        request: Request<pb::ListAssetsRequest>,
    ) -> Result<Response<pb::ListAssetsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.plugin, "plugin")?;
                let kinds: Vec<String> = if r.kind.is_empty() {
                    vec![]
                } else {
                    vec![r.kind.clone()]
                };
                self.catalog
                    .list(std::slice::from_ref(&r.plugin), &kinds, &params(r))
                    .await
                    .map(page_response)
            }
            .await
        )
    }

    async fn list_all_assets(
        &self,
        request: Request<pb::ListAllAssetsRequest>,
    ) -> Result<Response<pb::ListAssetsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        let list = ListParams {
            filter_query: r.filter_query.clone(),
            lifecycle_states: r.lifecycle_state.clone(),
            include_archived: r.include_archived,
            source_id: r.source_id.clone(),
            labels: r.label.clone(),
            q: r.q.clone(),
            page_size: r.page_size,
            page_token: r.page_token.clone(),
            order_by: r.order_by.clone(),
            sort_order: r.sort_order.clone(),
            include_total: r.include_total,
            ..Default::default()
        };
        respond!(
            cid,
            self.catalog
                .list(&r.plugin, &r.kind, &list)
                .await
                .map(page_response)
        )
    }

    /// Only reached when this service is mounted without
    /// [`super::encoded::AssetServiceFront`], which answers GetAsset from
    /// [`AssetApi::get_asset_encoded`] directly.
    async fn get_asset(
        &self,
        request: Request<pb::GetAssetRequest>,
    ) -> Result<Response<pb::AssetResource>, Status> {
        let cid = correlation(&request);
        let answer = self.get_asset_encoded(request).await?;
        respond!(
            cid,
            pb::AssetResource::decode(answer.into_inner())
                .map_err(|e| Error::internal(format!("a GetAsset answer did not decode: {e}")))
        )
    }

    async fn list_entities(
        &self,
        request: Request<pb::ListEntitiesRequest>,
    ) -> Result<Response<pb::ListEntitiesResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        let list = ListParams {
            filter_query: r.filter_query.clone(),
            include_archived: r.include_archived,
            source_id: if r.source_id.is_empty() {
                r.source.clone()
            } else {
                r.source_id.clone()
            },
            q: r.q.clone(),
            page_size: r.page_size,
            page_token: if r.page_token.is_empty() {
                r.next_page_token.clone()
            } else {
                r.page_token.clone()
            },
            order_by: r.order_by.clone(),
            sort_order: r.sort_order.clone(),
            ..Default::default()
        };
        respond!(
            cid,
            async {
                required(&r.plugin, "plugin")?;
                required(&r.plural, "plural")?;
                self.catalog.registry().resolve_kind(&r.plugin, &r.plural)?;
                let page = self
                    .catalog
                    .list(
                        std::slice::from_ref(&r.plugin),
                        std::slice::from_ref(&r.plural),
                        &list,
                    )
                    .await?;
                Ok::<_, Error>(pb::ListEntitiesResponse {
                    size: page.items.len() as i32,
                    page_size: page.page_size as i32,
                    items: page
                        .items
                        .iter()
                        .map(|v| convert::value_to_struct(&native_record(&v.record)))
                        .collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await
        )
    }

    async fn get_entity(
        &self,
        request: Request<pb::GetEntityRequest>,
    ) -> Result<Response<prost_types::Struct>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        let key = NativeKey {
            plugin: &r.plugin,
            plural: &r.plural,
            name: &r.name,
            source_id: &r.source_id,
        };
        respond!(
            cid,
            self.catalog
                .get_native(key)
                .await
                .map(|v| convert::value_to_struct(&v))
        )
    }

    async fn list_entity_artifacts(
        &self,
        request: Request<pb::ListEntityArtifactsRequest>,
    ) -> Result<Response<pb::ListEntityArtifactsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        let key = NativeKey {
            plugin: &r.plugin,
            plural: &r.plural,
            name: &r.name,
            source_id: &r.source_id,
        };
        respond!(
            cid,
            async {
                required(&r.plugin, "plugin")?;
                required(&r.plural, "plural")?;
                required(&r.name, "name")?;
                let page = self
                    .catalog
                    .list_native_artifacts(key, r.page_size, &r.page_token)
                    .await?;
                Ok::<_, Error>(pb::ListEntityArtifactsResponse {
                    size: page.items.len() as i32,
                    page_size: page.page_size as i32,
                    items: page.items.iter().map(convert::value_to_struct).collect(),
                    next_page_token: page.next_page_token,
                })
            }
            .await
        )
    }

    async fn execute_asset_action(
        &self,
        request: Request<pb::ExecuteAssetActionRequest>,
    ) -> Result<Response<pb::ActionResult>, Status> {
        let cid = correlation(&request);
        let who = caller(&request);
        let r = request.get_ref();
        respond!(
            cid,
            async {
                required(&r.plugin, "plugin")?;
                required(&r.kind, "kind")?;
                required(&r.name, "name")?;
                required(&r.action, "action")?;
                let call = ActionCall {
                    plugin: r.plugin.clone(),
                    kind: r.kind.clone(),
                    name: r.name.clone(),
                    action: r.action.clone(),
                    params: r
                        .params
                        .as_ref()
                        .map(|p| serde_json::Value::Object(convert::from_struct(p)))
                        .unwrap_or_else(|| serde_json::json!({})),
                    dry_run: r.dry_run || r.validate_only,
                    reason: r.reason.clone(),
                    legacy: None,
                };
                self.governance
                    .execute_asset_action(&who?, &call)
                    .await
                    .map(|o| super::governance_convert::action_result(&o))
            }
            .await
        )
    }

    async fn list_actions(
        &self,
        request: Request<pb::ListActionsRequest>,
    ) -> Result<Response<pb::ListActionsResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            (|| {
                let manifest = self.catalog.registry().get(&r.plugin)?;
                let mut caps = convert::capabilities(manifest);
                super::governance_capabilities::augment(&mut caps, &self.governance.settings());
                let actions = caps
                    .actions
                    .into_iter()
                    .filter(|a| r.scope.is_empty() || a.scope == r.scope)
                    .collect();
                Ok::<_, Error>(pb::ListActionsResponse { actions })
            })()
        )
    }

    async fn get_references(
        &self,
        request: Request<pb::GetReferencesRequest>,
    ) -> Result<Response<pb::GetReferencesResponse>, Status> {
        let cid = correlation(&request);
        let r = request.get_ref();
        respond!(
            cid,
            self.catalog
                .get(&r.plugin, &r.kind, &r.name)
                .await
                .map(|v| pb::GetReferencesResponse {
                    outbound: v.outbound.iter().map(convert::link).collect(),
                    inbound: v.inbound.iter().map(convert::link).collect(),
                })
        )
    }
}
