//! BWC: backward compatibility. The Kubeflow model catalog's native HTTP
//! answers match committed goldens (BWC-01), every plugin's legacy paths
//! answer with the legacy envelope (BWC-02), the health probes and
//! ListPlugins keep their legacy fields (BWC-03), and the asset read APIs
//! answer the same with governance in place (BWC-04).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{ensure, ok, Ctx, Fail, Outcome, Subject};
use crate::goldens::{self, Compared, Normalizer};
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
    ctx.run(
        s,
        "BWC-02",
        "native list, get and sources answer at the legacy paths",
        bwc_02(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "BWC-03",
        "health probes answer and ListPlugins keeps its legacy fields",
        bwc_03(ctx, s),
    )
    .await;
}

async fn get_json(ctx: &Ctx, path: &str) -> Result<serde_json::Value, Fail> {
    let answer = crate::http::get(&ctx.api.http_target(), path, Some(&ctx.ids.viewer.token))
        .await
        .map_err(Fail::Fail)?;
    ensure!(
        answer.status == 200,
        "GET {path} answered {}: {}",
        answer.status,
        answer.body.chars().take(300).collect::<String>()
    );
    Ok(answer.json())
}

async fn bwc_02(ctx: &Ctx, s: &Subject) -> Outcome {
    let base = format!("/api/{}_catalog/v1alpha1", s.plugin);
    let list = get_json(ctx, &format!("{base}/{}?pageSize=500", s.entity.plural)).await?;
    ensure!(
        list["items"].is_array() && list.get("size").is_some(),
        "GET {base}/{} has no items/size envelope: {}",
        s.entity.plural,
        list.to_string().chars().take(300).collect::<String>()
    );
    let one = get_json(ctx, &format!("{base}/{}/{}", s.entity.plural, s.names[0])).await?;
    ensure!(
        one.to_string().contains(&s.names[0]),
        "GET {base}/{}/{} does not name the asset: {}",
        s.entity.plural,
        s.names[0],
        one.to_string().chars().take(300).collect::<String>()
    );
    let sources = get_json(ctx, &format!("{base}/sources")).await?;
    let ids: Vec<&str> = sources["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["id"].as_str()).collect())
        .unwrap_or_default();
    ensure!(
        ids.contains(&s.source_id.as_str()),
        "GET {base}/sources lists {ids:?}, not {}",
        s.source_id
    );
    Ok(())
}

async fn bwc_03(ctx: &Ctx, s: &Subject) -> Outcome {
    for path in ["/livez", "/healthz"] {
        let answer = crate::http::get(&ctx.api.http_target(), path, None)
            .await
            .map_err(Fail::Fail)?;
        ensure!(
            answer.status == 200 && answer.json()["status"] == "alive",
            "GET {path} answered {} {}",
            answer.status,
            answer.body
        );
    }
    let ready = crate::http::get(&ctx.api.http_target(), "/readyz", None)
        .await
        .map_err(Fail::Fail)?;
    ensure!(
        ready.status == 200 && ready.json()["status"] == "ready",
        "GET /readyz answered {} {}",
        ready.status,
        ready.body
    );
    ensure!(!s.info.display_name.is_empty() && !s.info.version.is_empty() && !s.info.base_path.is_empty() && !s.info.entity_kinds.is_empty(), "ListPlugins lacks a legacy field (displayName, version, basePath, entityKinds) for {}: {:?}", s.plugin, s.info.capabilities_v2.as_ref().map(|_| "…"));
    Ok(())
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

/// The plugin whose native HTTP answers BWC-01 freezes: the Kubeflow
/// model catalog's.
const MODEL_PLUGIN: &str = "model";
/// Its legacy base path, as Kubeflow clients call it.
const MODEL_BASE: &str = "/api/model_catalog/v1alpha1";
/// How long a replica may take to learn a source applied through another
/// (its next reconcile; 5 s by default).
const SOURCE_PROPAGATION: Duration = Duration::from_secs(15);

/// BWC-01, run before the governance actions: they archive fixture
/// assets, which then leave the native lists.
pub async fn run_goldens(ctx: &Ctx, s: &Subject) {
    const TITLE: &str = "the model catalog's native HTTP answers match the goldens";
    if s.plugin != MODEL_PLUGIN {
        ctx.not_applicable(
            s,
            "BWC-01",
            TITLE,
            "applies to the model plugin only (Kubeflow model catalog routes)",
        );
        return;
    }
    ctx.run(s, "BWC-01", TITLE, bwc_01(ctx, s)).await;
}

/// One frozen answer: the golden's file stem, what was asked, the HTTP
/// status and the body.
struct Frozen {
    golden: &'static str,
    request: String,
    status: u16,
    body: Value,
}

async fn bwc_01(ctx: &Ctx, s: &Subject) -> Outcome {
    let normalizer = Normalizer::new(
        &ctx.run_id,
        &s.fixture.path.display().to_string(),
        &s.fixture.digest,
    );
    let dir = ctx.fixtures.join("goldens").join(&s.plugin);
    let mut differences = Vec::new();
    let mut written = Vec::new();
    for frozen in model_catalog_answers(ctx, s).await? {
        let golden = dir.join(format!("{}.json", frozen.golden));
        let text = goldens::render(&normalizer.value(&json!({
            "request": format!("GET {}", frozen.request),
            "status": frozen.status,
            "body": frozen.body,
        })));
        match goldens::compare(&golden, &text, ctx.update_goldens) {
            Ok(Compared::Same) => {}
            Ok(Compared::Written) => written.push(golden.display().to_string()),
            Err(why) => {
                differences.push(format!("GET {}: {why}", normalizer.text(&frozen.request)))
            }
        }
    }
    if !written.is_empty() {
        println!("  wrote goldens: {}", written.join(", "));
    }
    ensure!(
        differences.is_empty(),
        "{} of the model catalog's answers changed (if the change is intended, rerun with --update-goldens and review the diff):\n{}",
        differences.len(),
        differences.join("\n")
    );
    Ok(())
}

/// Asks the four kinds of model catalog endpoints about this run's
/// fixture source: the model list (plain, then filtered and paged with
/// every Kubeflow parameter), the source, one model, its artifacts, and a
/// model the source does not have.
async fn model_catalog_answers(ctx: &Ctx, s: &Subject) -> Result<Vec<Frozen>, Fail> {
    let source = &s.source_id;
    let [first, ..] = &s.names;
    let missing = format!("ct-models-{}-missing", ctx.run_id);
    let filtered = format!(
        "{MODEL_BASE}/models?source={source}&q=ct-models&filterQuery=provider%3D%27Conformance%27&orderBy=name&sortOrder=DESC&pageSize=2"
    );
    let mut out = vec![
        ask(
            ctx,
            "models",
            format!("{MODEL_BASE}/models?source={source}"),
        )
        .await?,
    ];
    let page_1 = ask(ctx, "models-filtered-page-1", filtered.clone()).await?;
    let token = page_1.body["nextPageToken"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(
        !token.is_empty(),
        "GET {filtered} gave no nextPageToken for 3 models in pages of 2: {}",
        page_1.body
    );
    out.push(page_1);
    let mut page_2 = ask(
        ctx,
        "models-filtered-page-2",
        format!("{filtered}&nextPageToken={token}"),
    )
    .await?;
    // The token is opaque and names this run's models: show it as the
    // normalized body shows it.
    page_2.request = format!("{filtered}&nextPageToken=<page-token>");
    out.push(page_2);
    out.push(own_source(ctx, s).await?);
    let model = format!("{MODEL_BASE}/sources/{source}/models/{first}");
    out.push(ask(ctx, "model", model.clone()).await?);
    out.push(ask(ctx, "model-artifacts", format!("{model}/artifacts")).await?);
    out.push(
        ask(
            ctx,
            "model-not-found",
            format!("{MODEL_BASE}/sources/{source}/models/{missing}"),
        )
        .await?,
    );
    Ok(out)
}

/// GET `path` as the viewer, whatever the status.
async fn ask(ctx: &Ctx, golden: &'static str, path: String) -> Result<Frozen, Fail> {
    let answer = crate::http::get(&ctx.api.http_target(), &path, Some(&ctx.ids.viewer.token))
        .await
        .map_err(Fail::Fail)?;
    Ok(Frozen {
        golden,
        status: answer.status,
        body: answer.json(),
        request: path,
    })
}

/// The run's source as `GET /sources` lists it. The rest of that list
/// (other sources, its size) belongs to whoever else uses the server, so
/// only this item is frozen. Pages are followed; a replica that has not
/// yet picked the source up is given time to.
async fn own_source(ctx: &Ctx, s: &Subject) -> Result<Frozen, Fail> {
    let request = format!("{MODEL_BASE}/sources");
    let deadline = Instant::now() + SOURCE_PROPAGATION;
    loop {
        let mut token = String::new();
        loop {
            let page = if token.is_empty() {
                format!("{request}?pageSize=500")
            } else {
                format!("{request}?pageSize=500&nextPageToken={token}")
            };
            let answer = ask(ctx, "sources", page).await?;
            ensure!(
                answer.status == 200,
                "GET {} answered {}: {}",
                answer.request,
                answer.status,
                answer.body
            );
            let items = answer.body["items"].as_array().cloned().unwrap_or_default();
            if let Some(item) = items.into_iter().find(|i| i["id"] == s.source_id.as_str()) {
                return Ok(Frozen {
                    golden: "sources",
                    request: format!("{request} (the item of source {})", s.source_id),
                    status: answer.status,
                    body: item,
                });
            }
            token = answer.body["nextPageToken"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if token.is_empty() {
                break;
            }
        }
        ensure!(
            Instant::now() < deadline,
            "GET {request} does not list source {} within {} s",
            s.source_id,
            SOURCE_PROPAGATION.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
