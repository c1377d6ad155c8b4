//! AUD: every governance call left exactly one event, with the right
//! fields and diffs; history pages are total; events cannot be altered;
//! the hash chain verifies.

use super::{ensure, ok, Ctx, Fail, Outcome, Subject};
use crate::api::{from_struct, Expected};
use crate::proto::gpb;

pub async fn run(ctx: &Ctx, s: &Subject) {
    if s.governance().is_none() {
        ctx.not_applicable(
            s,
            "AUD-01",
            "audit",
            "governance not supported by this entity",
        );
        return;
    }
    ctx.run(
        s,
        "AUD-01",
        "each mutating call left exactly one matching audit event",
        aud_01(ctx, s),
    )
    .await;
    ctx.run(s, "AUD-02", "diffs hold the changed leaves", aud_02(ctx, s))
        .await;
    ctx.run(
        s,
        "AUD-03",
        "history pages are total and ordered",
        aud_03(ctx, s),
    )
    .await;
    ctx.run(
        s,
        "AUD-04",
        "no RPC updates or deletes audit events",
        aud_04(ctx),
    )
    .await;
    ctx.run(
        s,
        "AUD-05",
        "actions run by approval carry the request and its approvals",
        aud_05(ctx, s),
    )
    .await;
    ctx.run(s, "AUD-06", "the audit hash chain verifies", aud_06(ctx))
        .await;
}

/// The events a ledger entry must be among: those under its correlation id
/// or, for an action run by an approval, those naming the request.
async fn events_for(ctx: &Ctx, expected: &Expected) -> Result<Vec<gpb::AuditEvent>, Fail> {
    match &expected.approval_request_id {
        Some(id) => Ok(ok(
            ctx.api
                .audit()
                .list_audit_events(ctx.api.req(
                    &ctx.ids.viewer,
                    gpb::ListAuditEventsRequest {
                        approval_request_id: id.clone(),
                        page_size: 100,
                        ..Default::default()
                    },
                ))
                .await,
            "ListAuditEvents",
        )?
        .into_inner()
        .events),
        None => ok(
            ctx.api
                .events_by_correlation(&ctx.ids.viewer, &expected.correlation_id)
                .await,
            "ListAuditEvents",
        ),
    }
}

async fn aud_01(ctx: &Ctx, s: &Subject) -> Outcome {
    let ledger = ctx.api.ledger_for(&s.plugin);
    ensure!(!ledger.is_empty(), "the suite recorded no mutating call");
    let mut problems = Vec::new();
    for expected in &ledger {
        let events = events_for(ctx, expected).await?;
        let matching: Vec<&gpb::AuditEvent> = events
            .iter()
            .filter(|e| e.action == expected.action)
            .collect();
        if matching.len() != 1 {
            problems.push(format!(
                "{} {} on {}: {} events (expected 1; all: {:?})",
                expected.correlation_id,
                expected.action,
                expected.name,
                matching.len(),
                events
                    .iter()
                    .map(|e| (&e.action, &e.outcome))
                    .collect::<Vec<_>>()
            ));
            continue;
        }
        let e = matching[0];
        if e.actor != expected.actor
            || !expected.outcomes.contains(&e.outcome.as_str())
            || (e.name != expected.name && expected.action != "auth.denied")
        {
            problems.push(format!(
                "{} {}: actor {:?} outcome {:?} asset {:?}; expected actor {:?} outcome one of {:?} asset {:?}",
                expected.correlation_id, expected.action, e.actor, e.outcome, e.name, expected.actor, expected.outcomes, expected.name
            ));
        }
        if expected.action != "auth.denied" && e.asset_uid.is_empty() {
            problems.push(format!(
                "{} {}: the event has no assetUid",
                expected.correlation_id, expected.action
            ));
        }
    }
    ensure!(
        problems.is_empty(),
        "{} of {} calls: {}",
        problems.len(),
        ledger.len(),
        problems.join("; ")
    );
    Ok(())
}

async fn history(ctx: &Ctx, s: &Subject, page_size: i32) -> Result<Vec<gpb::AuditEvent>, Fail> {
    let key = s.asset(0);
    let mut out = Vec::new();
    let mut token = String::new();
    for _ in 0..1000 {
        let page = ok(
            ctx.api
                .governance()
                .list_asset_history(ctx.api.req(
                    &ctx.ids.viewer,
                    gpb::ListAssetHistoryRequest {
                        plugin: key.plugin.clone(),
                        kind: key.kind.clone(),
                        name: key.name.clone(),
                        page_size,
                        page_token: token.clone(),
                        ..Default::default()
                    },
                ))
                .await,
            "ListAssetHistory",
        )?
        .into_inner();
        out.extend(page.events);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    Ok(out)
}

async fn aud_02(ctx: &Ctx, s: &Subject) -> Outcome {
    let events = history(ctx, s, 500).await?;
    let update = events
        .iter()
        .find(|e| e.action == "governance.update" && e.outcome == "success")
        .ok_or_else(|| Fail::Fail("no governance.update event".into()))?;
    let diff = update.diff.as_ref().map(from_struct).unwrap_or_default();
    ensure!(
        diff["new"]["owner"]["principal"] == "ct-owner",
        "the owner update's diff is {diff}; expected new.owner.principal = ct-owner"
    );
    // The asset was approved from draft (APR-02): that event's diff holds
    // exactly that change of lifecycle.state.
    let transitions: Vec<serde_json::Value> = events
        .iter()
        .filter(|e| e.action == "lifecycle.setState" && e.outcome == "success")
        .map(|e| e.diff.as_ref().map(from_struct).unwrap_or_default())
        .collect();
    ensure!(
        transitions
            .iter()
            .any(|d| d["old"]["lifecycle"]["state"] == "draft"
                && d["new"]["lifecycle"]["state"] == "approved"),
        "no lifecycle.setState diff shows lifecycle.state draft -> approved: {transitions:?}"
    );
    let bind = events
        .iter()
        .find(|e| e.action == "promotion.bind" && e.outcome == "success" && e.environment == "dev")
        .ok_or_else(|| Fail::Fail("no successful promotion.bind to dev".into()))?;
    let diff = bind.diff.as_ref().map(from_struct).unwrap_or_default();
    ensure!(
        diff["new"].to_string().contains(&bind.version_id) && !bind.version_id.is_empty(),
        "the bind's diff {diff} does not name version {}",
        bind.version_id
    );
    Ok(())
}

async fn aud_03(ctx: &Ctx, s: &Subject) -> Outcome {
    let whole = history(ctx, s, 500).await?;
    let paged = history(ctx, s, 2).await?;
    let ids = |v: &[gpb::AuditEvent]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
    ensure!(
        ids(&whole) == ids(&paged),
        "pages of two give {} events, one page {}; they differ",
        paged.len(),
        whole.len()
    );
    let key = |e: &gpb::AuditEvent| {
        (
            e.occurred_at
                .map(|t| (t.seconds, t.nanos))
                .unwrap_or_default(),
            e.event_id.clone(),
        )
    };
    for pair in whole.windows(2) {
        ensure!(
            key(&pair[0]) >= key(&pair[1]),
            "history is not ordered by occurredAt DESC, eventId DESC at {} / {}",
            pair[0].event_id,
            pair[1].event_id
        );
    }
    Ok(())
}

async fn aud_04(ctx: &Ctx) -> Outcome {
    for method in ["UpdateAuditEvent", "DeleteAuditEvent", "PurgeAuditEvents"] {
        let path = format!("/catalog.governance.v1alpha1.AuditService/{method}");
        let mut grpc = ctx.api.raw();
        grpc.ready()
            .await
            .map_err(|e| Fail::Fail(format!("channel: {e}")))?;
        let request = ctx.api.req(
            &ctx.ids.operator,
            gpb::GetAuditEventRequest {
                event_id: "x".into(),
            },
        );
        let codec =
            tonic_prost::ProstCodec::<gpb::GetAuditEventRequest, gpb::AuditEvent>::default();
        let result = grpc
            .unary(request, path.parse().expect("valid path"), codec)
            .await;
        match result {
            Err(status) if status.code() == tonic::Code::Unimplemented => {}
            other => {
                return Err(Fail::Fail(format!(
                    "{path} answered {other:?}; expected UNIMPLEMENTED"
                )))
            }
        }
    }
    Ok(())
}

async fn aud_05(ctx: &Ctx, s: &Subject) -> Outcome {
    let via: Vec<_> = ctx
        .api
        .ledger_for(&s.plugin)
        .into_iter()
        .filter(|e| e.approval_request_id.is_some())
        .collect();
    ensure!(!via.is_empty(), "no action ran through an approval");
    for expected in via {
        let events = events_for(ctx, &expected).await?;
        let e = events
            .iter()
            .find(|e| e.action == expected.action)
            .ok_or_else(|| {
                Fail::Fail(format!(
                    "no {} event under {}",
                    expected.action, expected.correlation_id
                ))
            })?;
        let id = expected.approval_request_id.clone().unwrap_or_default();
        ensure!(
            e.approval_request_id == id,
            "{} ran by request {id} but its event names {:?}",
            expected.action,
            e.approval_request_id
        );
        ensure!(
            !e.approvals.is_empty(),
            "{} ran by request {id} but its event lists no approvals",
            expected.action
        );
    }
    Ok(())
}

async fn aud_06(ctx: &Ctx) -> Outcome {
    let result = ok(
        ctx.api
            .audit()
            .verify_audit_chain(
                ctx.api
                    .req(&ctx.ids.viewer, gpb::VerifyAuditChainRequest::default()),
            )
            .await,
        "VerifyAuditChain",
    )?
    .into_inner();
    ensure!(
        result.verified,
        "the chain does not verify: first broken link {:?} after {} events",
        result.first_broken,
        result.checked_count
    );
    Ok(())
}
