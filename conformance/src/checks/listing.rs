//! LST: listing, filtering and paging are complete and deterministic.

use super::{ensure, ok, refused, Ctx, Fail, Outcome, Subject};
use crate::proto::pb;

pub async fn run(ctx: &Ctx, s: &Subject) {
    ctx.run(
        s,
        "LST-01",
        "the fixture source lists its three assets as AssetResources",
        lst_01(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LST-02",
        "GET matches the listed item; an unknown name is ASSET_NOT_FOUND",
        lst_02(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LST-03",
        "every filter field and sortable column is accepted",
        lst_03(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LST-04",
        "paging by one walks every item once; a reused token is refused",
        lst_04(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LST-05",
        "injection strings in filterQuery are INVALID_FILTER",
        lst_05(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LST-06",
        "risk and compliance filters return exactly the assets set up",
        lst_06(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "LST-07",
        "invalid fixture entries are absent and reported as diagnostics",
        lst_07(ctx, s),
    )
    .await;
}

fn names(items: &[pb::AssetResource]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| i.metadata.as_ref().map(|m| m.name.clone()))
        .collect()
}

async fn lst_01(ctx: &Ctx, s: &Subject) -> Outcome {
    let page = ok(
        ctx.api
            .assets()
            .list_assets(ctx.api.req(&ctx.ids.viewer, s.list()))
            .await,
        "ListAssets",
    )?
    .into_inner();
    let mut got = names(&page.items);
    got.sort();
    ensure!(
        got == s.all_names(),
        "listing source {} gave {got:?}; expected {:?}",
        s.source_id,
        s.all_names()
    );
    ensure!(
        page.size as usize == page.items.len(),
        "size is {} for {} items",
        page.size,
        page.items.len()
    );
    for item in &page.items {
        let m = item.metadata.clone().unwrap_or_default();
        ensure!(
            !item.api_version.is_empty() && item.kind == s.kind(),
            "item {} has apiVersion {:?} and kind {:?}",
            m.name,
            item.api_version,
            item.kind
        );
        ensure!(
            !m.uid.is_empty() && item.spec.is_some(),
            "item {} lacks metadata.uid or spec",
            m.name
        );
    }
    Ok(())
}

async fn lst_02(ctx: &Ctx, s: &Subject) -> Outcome {
    let page = ok(
        ctx.api
            .assets()
            .list_assets(ctx.api.req(&ctx.ids.viewer, s.list()))
            .await,
        "ListAssets",
    )?
    .into_inner();
    let first = page
        .items
        .first()
        .ok_or_else(|| Fail::Fail("the fixture source lists nothing".into()))?;
    let name = first.metadata.clone().unwrap_or_default().name;
    let mut key = s.asset(0);
    key.name = name.clone();
    let got = ok(ctx.api.get_asset(&ctx.ids.viewer, &key).await, "GetAsset")?;
    ensure!(
        got.metadata.as_ref().map(|m| m.name.as_str()) == Some(name.as_str()),
        "GET {name} returned {:?}",
        got.metadata.map(|m| m.name)
    );
    ensure!(
        got.spec == first.spec,
        "GET {name} and the listed item have different specs"
    );
    key.name = format!("ct-no-such-asset-{}", ctx.run_id);
    refused(
        ctx.api.get_asset(&ctx.ids.viewer, &key).await,
        "ASSET_NOT_FOUND",
        "GET of an unknown name",
    )?;
    Ok(())
}

/// A value of the right type for a filter field.
fn sample_value(field: &pb::FilterField) -> String {
    if let Some(option) = field.options.first() {
        return format!("'{}'", option.replace('\'', "''"));
    }
    match field.r#type.as_str() {
        "number" | "integer" | "range" => "1".into(),
        "boolean" | "bool" => "true".into(),
        _ => "'conformance'".into(),
    }
}

async fn lst_03(ctx: &Ctx, s: &Subject) -> Outcome {
    let fields = s.entity.fields.clone().unwrap_or_default();
    for f in fields.filter_fields.iter().filter(|f| !f.universal) {
        let op = f.operators.first().cloned().unwrap_or_else(|| "=".into());
        let query = format!("{} {op} {}", f.path, sample_value(f));
        let request = pb::ListAssetsRequest {
            filter_query: query.clone(),
            ..s.list()
        };
        ok(
            ctx.api
                .assets()
                .list_assets(ctx.api.req(&ctx.ids.viewer, request))
                .await,
            &format!("filterQuery {query:?}"),
        )?;
    }
    for c in fields.columns.iter().filter(|c| c.sortable) {
        for order in ["asc", "desc"] {
            let request = pb::ListAssetsRequest {
                order_by: c.name.clone(),
                sort_order: order.into(),
                ..s.list()
            };
            let page = ok(
                ctx.api
                    .assets()
                    .list_assets(ctx.api.req(&ctx.ids.viewer, request))
                    .await,
                &format!("orderBy {} {order}", c.name),
            )?
            .into_inner();
            ensure!(
                page.items.len() == s.all_names().len(),
                "orderBy {} {order} listed {} items; expected {}",
                c.name,
                page.items.len(),
                s.all_names().len()
            );
        }
    }
    Ok(())
}

async fn lst_04(ctx: &Ctx, s: &Subject) -> Outcome {
    let whole = names(&ok(
        ctx.api.list_all(&ctx.ids.viewer, s.list()).await,
        "ListAssets",
    )?);
    let mut walked = Vec::new();
    let mut request = pb::ListAssetsRequest {
        page_size: 1,
        ..s.list()
    };
    let mut token_seen = String::new();
    for _ in 0..100 {
        let page = ok(
            ctx.api
                .assets()
                .list_assets(ctx.api.req(&ctx.ids.viewer, request.clone()))
                .await,
            "ListAssets page",
        )?
        .into_inner();
        ensure!(
            page.items.len() <= 1,
            "pageSize=1 returned {} items",
            page.items.len()
        );
        walked.extend(names(&page.items));
        if page.next_page_token.is_empty() {
            break;
        }
        token_seen = page.next_page_token.clone();
        request.page_token = page.next_page_token;
    }
    ensure!(
        walked == whole,
        "pages of one gave {walked:?}; the unpaged list is {whole:?}"
    );
    ensure!(
        !token_seen.is_empty(),
        "three assets in pages of one produced no page token"
    );
    let reused = pb::ListAssetsRequest {
        page_size: 1,
        page_token: token_seen,
        filter_query: format!("name = '{}'", s.names[0]),
        ..s.list()
    };
    refused(
        ctx.api
            .assets()
            .list_assets(ctx.api.req(&ctx.ids.viewer, reused))
            .await,
        "INVALID_PAGE_TOKEN",
        "a page token reused with another filter",
    )?;
    Ok(())
}

async fn lst_05(ctx: &Ctx, s: &Subject) -> Outcome {
    for query in [
        "name = ''; DROP TABLE catalog_records; --'",
        "name = 'x' -- comment",
        "/* */ name = 'x'",
        "name = 'x' UNION SELECT 1",
    ] {
        let request = pb::ListAssetsRequest {
            filter_query: query.into(),
            ..s.list()
        };
        refused(
            ctx.api
                .assets()
                .list_assets(ctx.api.req(&ctx.ids.viewer, request))
                .await,
            "INVALID_FILTER",
            &format!("filterQuery {query:?}"),
        )?;
    }
    Ok(())
}

async fn lst_06(ctx: &Ctx, s: &Subject) -> Outcome {
    if s.governance().is_none() {
        return Err(Fail::Skip("governance not supported".into()));
    }
    let metadata = pb::GovernanceMetadata {
        risk: Some(pb::Risk {
            level: "high".into(),
            ..Default::default()
        }),
        compliance: Some(pb::Compliance {
            tags: vec!["gdpr".into()],
            ..Default::default()
        }),
        ..Default::default()
    };
    ok(
        ctx.api
            .update_governance(&ctx.ids.operator, &s.asset(1), metadata)
            .await,
        "setting risk high and tag gdpr",
    )?;
    let request = pb::ListAssetsRequest {
        risk_level: vec!["high".into()],
        compliance_tag: vec!["gdpr".into()],
        ..s.list()
    };
    let got = names(&ok(
        ctx.api.list_all(&ctx.ids.viewer, request).await,
        "ListAssets riskLevel=high complianceTag=gdpr",
    )?);
    ensure!(
        got == vec![s.names[1].clone()],
        "riskLevel=high&complianceTag=gdpr listed {got:?}; expected only {}",
        s.names[1]
    );
    Ok(())
}

async fn lst_07(ctx: &Ctx, s: &Subject) -> Outcome {
    ensure!(
        s.validate_diagnostics.iter().any(|d| d.severity == "error"),
        "the validate action reported no error diagnostic for the nameless entry: {:?}",
        s.validate_diagnostics
    );
    let source = ok(
        ctx.api
            .sources()
            .get_source(ctx.api.req(
                &ctx.ids.viewer,
                pb::GetSourceRequest {
                    plugin: s.plugin.clone(),
                    source_id: s.source_id.clone(),
                },
            ))
            .await,
        "GetSource",
    )?
    .into_inner();
    let status = source.status.unwrap_or_default();
    ensure!(
        !status.entry_diagnostics.is_empty(),
        "source {} reports no entry diagnostics",
        s.source_id
    );
    let listed = ok(
        ctx.api.list_all(&ctx.ids.viewer, s.list()).await,
        "ListAssets",
    )?;
    ensure!(
        listed.len() == s.all_names().len(),
        "{} assets listed from the fixture source; the nameless entry must not be one",
        listed.len()
    );
    Ok(())
}
