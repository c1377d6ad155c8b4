//! BWC: the asset read APIs answer the same with governance in place.

use super::{ensure, ok, Ctx, Fail, Outcome, Subject};
use crate::proto::pb;

/// What the read APIs say about asset 1, apart from governance,
/// lifecycle and status.
#[derive(Debug, Clone, PartialEq)]
pub struct Reads {
    get: pb::AssetResource,
    listed: Option<pb::AssetResource>,
}

fn strip(mut asset: pb::AssetResource) -> pb::AssetResource {
    asset.governance = None;
    asset.status = None;
    if let Some(m) = asset.metadata.as_mut() {
        m.updated_at = None;
        // The owner reference is the governance owner, mirrored.
        m.owner = None;
    }
    asset
}

async fn read(ctx: &Ctx, s: &Subject) -> Result<Reads, Fail> {
    let get = strip(ok(
        ctx.api.get_asset(&ctx.ids.viewer, &s.asset(0)).await,
        "GetAsset",
    )?);
    let listed = ok(
        ctx.api.list_all(&ctx.ids.viewer, s.list()).await,
        "ListAssets",
    )?
    .into_iter()
    .find(|a| a.metadata.as_ref().is_some_and(|m| m.name == s.names[0]))
    .map(strip);
    Ok(Reads { get, listed })
}

/// Taken before any governance action.
pub async fn snapshot(ctx: &Ctx, s: &Subject) -> Option<Reads> {
    read(ctx, s).await.ok()
}

pub async fn run(ctx: &Ctx, s: &Subject, before: Option<Reads>) {
    ctx.run(
        s,
        "BWC-04",
        "asset reads are unchanged by governance actions (apart from governance and status)",
        bwc_04(ctx, s, before),
    )
    .await;
    for (id, title) in [
        ("BWC-01", "model catalog goldens over HTTP"),
        ("BWC-02", "legacy native paths over HTTP"),
        ("BWC-03", "health endpoints over HTTP"),
    ] {
        ctx.not_applicable(
            s,
            id,
            title,
            "HTTP checks are not part of this gRPC harness yet",
        );
    }
}

async fn bwc_04(ctx: &Ctx, s: &Subject, before: Option<Reads>) -> Outcome {
    let before = before
        .ok_or_else(|| Fail::Fail("the reads failed before the governance actions".into()))?;
    let after = read(ctx, s).await?;
    ensure!(
        before.get == after.get,
        "GetAsset {} changed:\nbefore {:?}\nafter  {:?}",
        s.names[0],
        before.get,
        after.get
    );
    ensure!(
        before.listed == after.listed,
        "the listed item {} changed",
        s.names[0]
    );
    Ok(())
}
