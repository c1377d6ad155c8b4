//! Approval requests (spec 07 §4–5): the request status machine, the
//! decision and cancel rules, requirement counting, expiry and the
//! de-duplication key. Pure: the caller loads the request, asks here what a
//! decision does, and persists the answer in one transaction.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::policy::Requirement;
use crate::domain::asset::canonical_json;
use crate::domain::error::{Error, Reason};

/// Actor recorded when the sweeper or a lazy read expires a request.
pub const EXPIRY_ACTOR: &str = "system:expiry";

/// Status of an approval request (07 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Open to decisions.
    Pending,
    /// Every requirement is satisfied; the action ran or was attempted.
    Approved,
    /// Rejected; the action never runs.
    Rejected,
    /// Nobody decided in time.
    Expired,
    /// Withdrawn by the requester or an operator, or the subject was archived.
    Cancelled,
}

impl RequestStatus {
    /// Every status.
    pub const ALL: [RequestStatus; 5] = [
        RequestStatus::Pending,
        RequestStatus::Approved,
        RequestStatus::Rejected,
        RequestStatus::Expired,
        RequestStatus::Cancelled,
    ];

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Expired => "expired",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    /// Reads a status, case-insensitively.
    pub fn parse(text: &str) -> Option<RequestStatus> {
        let text = text.trim();
        RequestStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether no event can change it any more.
    pub fn is_terminal(self) -> bool {
        self != RequestStatus::Pending
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an approver decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    /// Counts toward the requirements the approver qualifies for.
    Approve,
    /// Rejects the request when `denyOnFirstReject`, else is only recorded.
    Reject,
}

impl DecisionKind {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionKind::Approve => "approve",
            DecisionKind::Reject => "reject",
        }
    }

    /// Reads a decision, case-insensitively.
    pub fn parse(text: &str) -> Option<DecisionKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "approve" => Some(DecisionKind::Approve),
            "reject" => Some(DecisionKind::Reject),
            _ => None,
        }
    }
}

impl fmt::Display for DecisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision as stored with its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordedDecision {
    /// Deciding principal.
    pub approver: String,
    /// The principal's roles at decision time.
    pub approver_roles: Vec<String>,
    /// Approve or reject.
    pub decision: DecisionKind,
    /// Free text; required for a reject that rejects the request.
    pub comment: Option<String>,
    /// When it was recorded.
    pub decided_at: DateTime<Utc>,
    /// Indices of the requirements the decision counts toward, fixed at
    /// decision time (roles come from the token of that moment, 07 §5.2).
    pub counted_requirements: Vec<usize>,
}

/// The parts of a stored request that the rules need.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Current status as stored (expiry may not be applied yet).
    pub status: RequestStatus,
    /// The requesting principal.
    pub requested_by: &'a str,
    /// Gate requirements, in stored order.
    pub requirements: &'a [Requirement],
    /// Decisions so far, chronological.
    pub decisions: &'a [RecordedDecision],
    /// End of the request's life.
    pub expires_at: DateTime<Utc>,
    /// Whether one rejection rejects the request.
    pub deny_on_first_reject: bool,
}

/// Progress of one requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequirementProgress {
    /// Distinct principals whose approval counts toward it.
    pub approvals_count: u32,
    /// `approvals_count >= approvals_required`.
    pub satisfied: bool,
}

/// What an accepted decision does to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionOutcome {
    /// Requirements the decision counts toward; store them with it.
    pub counted_requirements: Vec<usize>,
    /// Progress of every requirement with the decision included.
    pub progress: Vec<RequirementProgress>,
    /// `Approved` means: execute the action in the same transaction.
    pub new_status: RequestStatus,
}

/// Whether a pending request is overdue and must be marked expired (by
/// [`EXPIRY_ACTOR`]) before anything else happens to it.
pub fn is_expired(req: &RequestView, now: DateTime<Utc>) -> bool {
    req.status == RequestStatus::Pending && now >= req.expires_at
}

/// `createdAt + expiryHours`, to the millisecond (fractional hours are
/// allowed). Out-of-range lifetimes saturate instead of panicking.
pub fn expires_at(created_at: DateTime<Utc>, expiry_hours: f64) -> DateTime<Utc> {
    // `as` saturates and maps NaN to 0; max(0.0) keeps the lifetime non-negative.
    let millis = (expiry_hours * 3_600_000.0).round().max(0.0) as i64;
    TimeDelta::try_milliseconds(millis)
        .and_then(|lifetime| created_at.checked_add_signed(lifetime))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Every role that qualifies for at least one requirement, sorted.
pub fn qualifying_roles(requirements: &[Requirement]) -> Vec<String> {
    requirements
        .iter()
        .flat_map(|req| req.approver_roles.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Requirement indices whose approver roles intersect `roles`.
pub fn counted_requirements(requirements: &[Requirement], roles: &[String]) -> Vec<usize> {
    requirements
        .iter()
        .enumerate()
        .filter(|(_, req)| req.approver_roles.iter().any(|role| roles.contains(role)))
        .map(|(index, _)| index)
        .collect()
}

/// Progress of every requirement from the recorded approvals.
pub fn progress(req: &RequestView) -> Vec<RequirementProgress> {
    tally(req.requirements, approvals(req.decisions))
}

fn approvals(decisions: &[RecordedDecision]) -> impl Iterator<Item = (&str, &[usize])> {
    decisions
        .iter()
        .filter(|decision| decision.decision == DecisionKind::Approve)
        .map(|decision| {
            (
                decision.approver.as_str(),
                decision.counted_requirements.as_slice(),
            )
        })
}

/// Counts distinct principals per requirement, so that one principal never
/// counts twice toward the same requirement whatever the stored data holds.
fn tally<'d>(
    requirements: &[Requirement],
    approvals: impl Iterator<Item = (&'d str, &'d [usize])>,
) -> Vec<RequirementProgress> {
    let mut approvers: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); requirements.len()];
    for (approver, counted) in approvals {
        for &index in counted {
            if let Some(set) = approvers.get_mut(index) {
                set.insert(approver);
            }
        }
    }
    requirements
        .iter()
        .zip(approvers)
        .map(|(req, set)| {
            let approvals_count = u32::try_from(set.len()).unwrap_or(u32::MAX);
            RequirementProgress {
                approvals_count,
                satisfied: approvals_count >= req.approvals_required,
            }
        })
        .collect()
}

fn not_pending(req: &RequestView, now: DateTime<Utc>) -> Option<Error> {
    if is_expired(req, now) {
        let at = req.expires_at.to_rfc3339();
        return Some(
            Error::new(
                Reason::ApprovalNotPending,
                format!(
                    "the approval request expired at {at}; nothing can change it now. Submit \
                     the action again to open a new request"
                ),
            )
            .with("status", RequestStatus::Expired)
            .with("expiresAt", at),
        );
    }
    if req.status != RequestStatus::Pending {
        return Some(
            Error::new(
                Reason::ApprovalNotPending,
                format!(
                    "the approval request is {}, not pending; only pending requests take \
                     decisions or cancellation",
                    req.status
                ),
            )
            .with("status", req.status),
        );
    }
    None
}

/// Checks one approve or reject against 07 §5.2 and tells what it does.
/// Check order: expiry, status, self-approval, duplicate, role, comment.
pub fn decide(
    req: &RequestView,
    approver: &str,
    approver_effective_roles: &[String],
    kind: DecisionKind,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<DecisionOutcome, Error> {
    if let Some(error) = not_pending(req, now) {
        return Err(error);
    }
    let required = qualifying_roles(req.requirements);
    // Before the role check, so that no role (admin included) can approve
    // its own request.
    if approver == req.requested_by {
        return Err(Error::new(
            Reason::SelfApprovalForbidden,
            format!(
                "{approver} requested this action and cannot decide on the request; cancel it \
                 instead, or ask another principal holding one of: {}",
                required.join(", ")
            ),
        )
        .with("requestedBy", req.requested_by));
    }
    if let Some(earlier) = req.decisions.iter().find(|d| d.approver == approver) {
        return Err(Error::new(
            Reason::DuplicateDecision,
            format!(
                "{approver} already decided on this request ({} at {}); each principal decides once",
                earlier.decision,
                earlier.decided_at.to_rfc3339()
            ),
        )
        .with("decision", earlier.decision)
        .with("decidedAt", earlier.decided_at.to_rfc3339()));
    }
    let counted = counted_requirements(req.requirements, approver_effective_roles);
    if counted.is_empty() {
        let held = if approver_effective_roles.is_empty() {
            "none".to_string()
        } else {
            approver_effective_roles.join(", ")
        };
        return Err(Error::new(
            Reason::ApproverRoleRequired,
            format!(
                "deciding on this request needs one of the roles {}; {approver} holds {held}",
                required.join(", ")
            ),
        )
        .with("requiredRoles", required.join(",")));
    }
    let blank = comment.is_none_or(|text| text.trim().is_empty());
    if kind == DecisionKind::Reject && req.deny_on_first_reject && blank {
        return Err(Error::new(
            Reason::CommentRequired,
            "a comment is required to reject this request, since one rejection ends it; say why",
        ));
    }

    let progress = match kind {
        DecisionKind::Approve => tally(
            req.requirements,
            approvals(req.decisions).chain(std::iter::once((approver, counted.as_slice()))),
        ),
        DecisionKind::Reject => progress(req),
    };
    let new_status = match kind {
        DecisionKind::Approve if progress.iter().all(|p| p.satisfied) => RequestStatus::Approved,
        DecisionKind::Reject if req.deny_on_first_reject => RequestStatus::Rejected,
        _ => RequestStatus::Pending,
    };
    Ok(DecisionOutcome {
        counted_requirements: counted,
        progress,
        new_status,
    })
}

/// Whether `principal` could decide on the request now (`approvableByMe`).
pub fn may_decide(
    req: &RequestView,
    principal: &str,
    roles: &[String],
    now: DateTime<Utc>,
) -> bool {
    not_pending(req, now).is_none()
        && principal != req.requested_by
        && !req.decisions.iter().any(|d| d.approver == principal)
        && !counted_requirements(req.requirements, roles).is_empty()
}

/// Checks a cancel (07 §5.1): only pending requests, only by the requester
/// or an operator.
pub fn check_cancel(
    req: &RequestView,
    caller: &str,
    caller_is_operator: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if let Some(error) = not_pending(req, now) {
        return Err(error);
    }
    if caller != req.requested_by && !caller_is_operator {
        return Err(Error::new(
            Reason::CancelNotAllowed,
            format!(
                "only the requester ({}) or an operator may cancel this request",
                req.requested_by
            ),
        )
        .with("requestedBy", req.requested_by));
    }
    Ok(())
}

/// Hex SHA-256 identifying "the same request" (07 §4.2): subject, action
/// and params, with object keys sorted so that key order never matters.
pub fn dedupe_key(
    asset_uid: &str,
    version_id: Option<&str>,
    action: &str,
    params: &serde_json::Value,
) -> String {
    let subject = serde_json::json!([asset_uid, version_id, action, params]);
    hex::encode(Sha256::digest(canonical_json(&subject).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 2, 17, 10, 0, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    fn requirement(rule: &str, approvals: u32, approver_roles: &[&str]) -> Requirement {
        Requirement {
            rule: rule.to_string(),
            gate_index: 0,
            approvals_required: approvals,
            approver_roles: roles(approver_roles),
        }
    }

    /// The two requirements of the 07 §5.2 example.
    fn example() -> Vec<Requirement> {
        vec![
            requirement("sensitive-to-prod", 2, &["approver", "security-approver"]),
            requirement("agent-approval-by-kind", 1, &["operator", "approver"]),
        ]
    }

    fn view<'a>(
        requirements: &'a [Requirement],
        decisions: &'a [RecordedDecision],
    ) -> RequestView<'a> {
        RequestView {
            status: RequestStatus::Pending,
            requested_by: "carol",
            requirements,
            decisions,
            expires_at: at(60),
            deny_on_first_reject: true,
        }
    }

    /// Records what `decide` accepted, as the caller would.
    fn record(
        decisions: &mut Vec<RecordedDecision>,
        outcome: &DecisionOutcome,
        approver: &str,
        approver_roles: &[&str],
        decision: DecisionKind,
        minute: i64,
    ) {
        decisions.push(RecordedDecision {
            approver: approver.to_string(),
            approver_roles: roles(approver_roles),
            decision,
            comment: None,
            decided_at: at(minute),
            counted_requirements: outcome.counted_requirements.clone(),
        });
    }

    #[test]
    fn statuses_and_decisions_read_and_write_their_wire_names() {
        for status in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
            assert_eq!(status.is_terminal(), status != RequestStatus::Pending);
        }
        assert_eq!(
            RequestStatus::parse(" Cancelled "),
            Some(RequestStatus::Cancelled)
        );
        assert_eq!(RequestStatus::parse("canceled"), None);
        assert_eq!(DecisionKind::parse("REJECT"), Some(DecisionKind::Reject));
        assert_eq!(
            serde_json::to_value(DecisionKind::Approve).unwrap(),
            json!("approve")
        );
        assert_eq!(DecisionKind::parse("deny"), None);
    }

    #[test]
    fn the_two_requirement_example_is_approved_by_alice_and_bob() {
        let requirements = example();
        let mut decisions = Vec::new();

        let alice = decide(
            &view(&requirements, &decisions),
            "alice",
            &roles(&["approver"]),
            DecisionKind::Approve,
            None,
            at(1),
        )
        .unwrap();
        assert_eq!(alice.counted_requirements, vec![0, 1]);
        assert_eq!(
            alice.progress,
            vec![
                RequirementProgress {
                    approvals_count: 1,
                    satisfied: false
                },
                RequirementProgress {
                    approvals_count: 1,
                    satisfied: true
                },
            ]
        );
        assert_eq!(alice.new_status, RequestStatus::Pending);
        record(
            &mut decisions,
            &alice,
            "alice",
            &["approver"],
            DecisionKind::Approve,
            1,
        );
        assert_eq!(progress(&view(&requirements, &decisions)), alice.progress);

        let bob = decide(
            &view(&requirements, &decisions),
            "bob",
            &roles(&["security-approver"]),
            DecisionKind::Approve,
            Some("ok"),
            at(2),
        )
        .unwrap();
        assert_eq!(bob.counted_requirements, vec![0]);
        assert_eq!(
            bob.progress,
            vec![
                RequirementProgress {
                    approvals_count: 2,
                    satisfied: true
                },
                RequirementProgress {
                    approvals_count: 1,
                    satisfied: true
                },
            ]
        );
        assert_eq!(bob.new_status, RequestStatus::Approved);
    }

    #[test]
    fn one_principal_counts_once_and_rejections_never_count() {
        let requirements = vec![requirement("two", 2, &["approver"])];
        let approve = |who: &str| RecordedDecision {
            approver: who.to_string(),
            approver_roles: roles(&["approver"]),
            decision: DecisionKind::Approve,
            comment: None,
            decided_at: at(1),
            counted_requirements: vec![0],
        };
        let mut reject = approve("dan");
        reject.decision = DecisionKind::Reject;
        let decisions = vec![approve("alice"), approve("alice"), reject];
        let mut request = view(&requirements, &decisions);
        request.deny_on_first_reject = false;
        assert_eq!(
            progress(&request),
            vec![RequirementProgress {
                approvals_count: 1,
                satisfied: false
            }]
        );

        let erin = decide(
            &request,
            "erin",
            &roles(&["approver"]),
            DecisionKind::Approve,
            None,
            at(2),
        )
        .unwrap();
        assert_eq!(erin.new_status, RequestStatus::Approved);
    }

    #[test]
    fn the_requester_is_refused_before_any_role_check() {
        let requirements = example();
        let request = view(&requirements, &[]);
        for held in [roles(&[]), roles(&["approver", "admin"])] {
            let error =
                decide(&request, "carol", &held, DecisionKind::Approve, None, at(1)).unwrap_err();
            assert_eq!(error.reason, Reason::SelfApprovalForbidden);
        }
        let error = decide(
            &request,
            "carol",
            &[],
            DecisionKind::Reject,
            Some("no"),
            at(1),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::SelfApprovalForbidden);
    }

    #[test]
    fn a_second_decision_by_the_same_principal_is_a_duplicate() {
        let requirements = example();
        let mut decisions = Vec::new();
        let mut request = view(&requirements, &decisions);
        request.deny_on_first_reject = false;
        let first = decide(
            &request,
            "alice",
            &roles(&["approver"]),
            DecisionKind::Reject,
            None,
            at(1),
        )
        .unwrap();
        assert_eq!(
            first.new_status,
            RequestStatus::Pending,
            "a lenient request stays open after a rejection"
        );
        assert_eq!(
            first
                .progress
                .iter()
                .map(|p| p.approvals_count)
                .sum::<u32>(),
            0
        );
        record(
            &mut decisions,
            &first,
            "alice",
            &["approver"],
            DecisionKind::Reject,
            1,
        );
        let mut request = view(&requirements, &decisions);
        request.deny_on_first_reject = false;
        let error = decide(
            &request,
            "alice",
            &roles(&["approver"]),
            DecisionKind::Approve,
            None,
            at(2),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::DuplicateDecision);
        assert_eq!(error.metadata["decision"], "reject");
        // The duplicate check comes before the role check.
        let error = decide(&request, "alice", &[], DecisionKind::Approve, None, at(2)).unwrap_err();
        assert_eq!(error.reason, Reason::DuplicateDecision);
    }

    #[test]
    fn a_principal_without_a_listed_role_cannot_decide() {
        let requirements = example();
        let request = view(&requirements, &[]);
        let error = decide(
            &request,
            "victor",
            &roles(&["viewer", "admin"]),
            DecisionKind::Approve,
            None,
            at(1),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::ApproverRoleRequired);
        assert_eq!(
            error.metadata["requiredRoles"],
            "approver,operator,security-approver"
        );
        assert!(error.message.contains("viewer, admin"), "{}", error.message);
        assert_eq!(
            qualifying_roles(&requirements),
            roles(&["approver", "operator", "security-approver"])
        );
    }

    #[test]
    fn rejecting_for_good_needs_a_comment() {
        let requirements = example();
        let request = view(&requirements, &[]);
        let approver = roles(&["approver"]);
        for comment in [None, Some("   ")] {
            let error = decide(
                &request,
                "alice",
                &approver,
                DecisionKind::Reject,
                comment,
                at(1),
            )
            .unwrap_err();
            assert_eq!(error.reason, Reason::CommentRequired);
        }
        let rejected = decide(
            &request,
            "alice",
            &approver,
            DecisionKind::Reject,
            Some("too risky"),
            at(1),
        )
        .unwrap();
        assert_eq!(rejected.new_status, RequestStatus::Rejected);
        assert!(
            decide(
                &request,
                "alice",
                &approver,
                DecisionKind::Approve,
                None,
                at(1)
            )
            .is_ok(),
            "approvals need no comment"
        );
    }

    #[test]
    fn expiry_comes_first_and_is_reported_as_not_pending() {
        let requirements = example();
        let request = view(&requirements, &[]);
        assert!(!is_expired(&request, at(60) - TimeDelta::milliseconds(1)));
        assert!(is_expired(&request, at(60)));
        // Even the requester hears about the expiry, not about self-approval.
        let error =
            decide(&request, "carol", &[], DecisionKind::Approve, None, at(60)).unwrap_err();
        assert_eq!(error.reason, Reason::ApprovalNotPending);
        assert_eq!(error.metadata["status"], "expired");
        assert!(error.message.contains("expired"));
        assert!(decide(
            &request,
            "alice",
            &roles(&["approver"]),
            DecisionKind::Approve,
            None,
            at(59)
        )
        .is_ok());

        let mut approved = request;
        approved.status = RequestStatus::Approved;
        assert!(
            !is_expired(&approved, at(90)),
            "only pending requests expire"
        );
        let error = decide(
            &approved,
            "alice",
            &roles(&["approver"]),
            DecisionKind::Approve,
            None,
            at(90),
        )
        .unwrap_err();
        assert_eq!(error.reason, Reason::ApprovalNotPending);
        assert_eq!(error.metadata["status"], "approved");
        assert!(error.message.contains("approved"));
    }

    #[test]
    fn cancel_is_for_pending_requests_by_the_requester_or_an_operator() {
        let requirements = example();
        let request = view(&requirements, &[]);
        assert!(check_cancel(&request, "carol", false, at(1)).is_ok());
        assert!(check_cancel(&request, "olga", true, at(1)).is_ok());
        let error = check_cancel(&request, "alice", false, at(1)).unwrap_err();
        assert_eq!(error.reason, Reason::CancelNotAllowed);
        assert_eq!(
            check_cancel(&request, "carol", false, at(60))
                .unwrap_err()
                .reason,
            Reason::ApprovalNotPending
        );
        let mut cancelled = request;
        cancelled.status = RequestStatus::Cancelled;
        let error = check_cancel(&cancelled, "carol", true, at(1)).unwrap_err();
        assert_eq!(error.reason, Reason::ApprovalNotPending);
        assert_eq!(error.metadata["status"], "cancelled");
    }

    #[test]
    fn may_decide_mirrors_the_decision_checks() {
        let requirements = example();
        let decisions = vec![RecordedDecision {
            approver: "alice".into(),
            approver_roles: roles(&["approver"]),
            decision: DecisionKind::Approve,
            comment: None,
            decided_at: at(1),
            counted_requirements: vec![0, 1],
        }];
        let request = view(&requirements, &decisions);
        assert!(may_decide(
            &request,
            "bob",
            &roles(&["security-approver"]),
            at(2)
        ));
        assert!(!may_decide(&request, "alice", &roles(&["approver"]), at(2)));
        assert!(!may_decide(&request, "carol", &roles(&["approver"]), at(2)));
        assert!(!may_decide(&request, "victor", &roles(&["viewer"]), at(2)));
        assert!(!may_decide(
            &request,
            "bob",
            &roles(&["security-approver"]),
            at(60)
        ));
    }

    #[test]
    fn dedupe_key_ignores_key_order_and_tracks_every_part() {
        let one = json!({"environment": "prod", "versionId": "v1", "extra": {"a": 1, "b": [1, 2]}});
        let same: serde_json::Value = serde_json::from_str(
            r#"{"extra": {"b": [1, 2], "a": 1}, "versionId": "v1", "environment": "prod"}"#,
        )
        .unwrap();
        let key = dedupe_key("uid-1", None, "promotion.bind", &one);
        assert_eq!(key, dedupe_key("uid-1", None, "promotion.bind", &same));
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(key, dedupe_key("uid-2", None, "promotion.bind", &one));
        assert_ne!(key, dedupe_key("uid-1", Some("v1"), "promotion.bind", &one));
        assert_ne!(key, dedupe_key("uid-1", None, "promotion.promote", &one));
        assert_ne!(
            key,
            dedupe_key(
                "uid-1",
                None,
                "promotion.bind",
                &json!({"environment": "stage", "versionId": "v1", "extra": {"a": 1, "b": [1, 2]}})
            )
        );
        assert_ne!(
            key,
            dedupe_key(
                "uid-1",
                None,
                "promotion.bind",
                &json!({"environment": "prod", "versionId": "v1", "extra": {"a": 1, "b": [2, 1]}})
            )
        );
    }

    #[test]
    fn expiry_time_allows_fractional_hours_and_saturates() {
        let created = at(0);
        assert_eq!(expires_at(created, 168.0), created + TimeDelta::hours(168));
        assert_eq!(
            expires_at(created, 0.001),
            created + TimeDelta::milliseconds(3600)
        );
        assert_eq!(expires_at(created, 1e300), DateTime::<Utc>::MAX_UTC);
        assert_eq!(expires_at(created, f64::NAN), created);
        assert_eq!(expires_at(created, -5.0), created);
    }
}
