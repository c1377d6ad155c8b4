//! PRV: every asset says where it came from.

use super::{ensure, ok, Ctx, Outcome, Subject};
use crate::proto::pb;

pub async fn run(ctx: &Ctx, s: &Subject) {
    ctx.run(
        s,
        "PRV-01",
        "every listed asset has source type, uri, id and revision",
        prv_01(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "PRV-02",
        "a YAML source's revision is the sha256 of its file",
        prv_02(ctx, s),
    )
    .await;
    ctx.not_applicable(
        s,
        "PRV-03",
        "OCI signature verification",
        "needs the OCI provider (a later issue)",
    );
}

async fn prv_01(ctx: &Ctx, s: &Subject) -> Outcome {
    let request = pb::ListAssetsRequest {
        plugin: s.plugin.clone(),
        kind: s.kind().to_string(),
        include_archived: true,
        page_size: 500,
        ..Default::default()
    };
    let items = ok(
        ctx.api.list_all(&ctx.ids.viewer, request).await,
        "ListAssets",
    )?;
    ensure!(!items.is_empty(), "the plugin lists no asset");
    for item in &items {
        let name = item
            .metadata
            .as_ref()
            .map(|m| m.name.clone())
            .unwrap_or_default();
        let p = item.provenance.clone().unwrap_or_default();
        let source = p.source.unwrap_or_default();
        let revision = p.revision.unwrap_or_default();
        ensure!(
            !source.r#type.is_empty()
                && !source.uri.is_empty()
                && !source.source_id.is_empty()
                && !revision.id.is_empty(),
            "{name}: provenance lacks source.type, source.uri, source.sourceId or revision.id"
        );
    }
    Ok(())
}

async fn prv_02(ctx: &Ctx, s: &Subject) -> Outcome {
    for i in 0..3 {
        let asset = ok(
            ctx.api.get_asset(&ctx.ids.viewer, &s.asset(i)).await,
            "GetAsset",
        )?;
        let p = asset.provenance.unwrap_or_default();
        let revision = p.revision.unwrap_or_default().id;
        ensure!(
            revision == s.fixture.digest,
            "{}: revision.id is {revision:?}; the fixture file is {}",
            s.names[i],
            s.fixture.digest
        );
        let source = p.source.unwrap_or_default();
        ensure!(
            source.source_id == s.source_id && source.r#type == "yaml",
            "{}: source is {:?}/{:?}",
            s.names[i],
            source.source_id,
            source.r#type
        );
    }
    Ok(())
}
