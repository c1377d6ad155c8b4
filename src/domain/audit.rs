//! Audit events and their hash chain (spec 06 §3): what an event holds,
//! how its hash is computed from its content and the previous link, and
//! how a stored chain is checked. Storage appends; this module decides what
//! "unaltered" means.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::asset::{canonical_json, sha256_digest};

/// `prevHash` of the first event: 32 zero bytes, spelled as a digest.
pub const GENESIS_HASH: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Outcome of an audited attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The change happened.
    Success,
    /// Refused by a rule, a role or a precondition.
    Denied,
    /// Failed: unknown subject, bad parameters, a fault.
    Failed,
    /// Held for approval.
    PendingApproval,
}

impl Outcome {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::PendingApproval => "pending-approval",
        }
    }

    /// Reads the wire spelling.
    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "success" => Some(Outcome::Success),
            "denied" => Some(Outcome::Denied),
            "failed" => Some(Outcome::Failed),
            "pending-approval" => Some(Outcome::PendingApproval),
            _ => None,
        }
    }
}

/// One audit event, as stored and as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// UUIDv7.
    pub event_id: String,
    /// Server time of the outcome.
    pub occurred_at: DateTime<Utc>,
    /// Principal or system:<component>.
    pub actor: String,
    /// Roles held at the time.
    pub actor_roles: Vec<String>,
    /// Action id.
    pub action: String,
    /// Subject asset uid ("" for none).
    pub asset_uid: String,
    /// Subject plugin.
    pub plugin: String,
    /// Subject kind.
    pub kind: String,
    /// Subject name.
    pub name: String,
    /// Subject version.
    pub version_id: String,
    /// Environment of binding actions.
    pub environment: String,
    /// Outcome.
    pub outcome: Outcome,
    /// Caller's reason or refusal message.
    pub reason: String,
    /// Machine reason of a refusal.
    pub reason_code: String,
    /// {old, new} with changed leaves only.
    pub diff: Value,
    /// Linked approval request.
    pub approval_request_id: String,
    /// Decisions behind an approved action.
    pub approvals: Value,
    /// Gating or denying rule.
    pub policy_rule: String,
    /// Correlation id of the call.
    pub correlation_id: String,
    /// Action run id.
    pub action_run_id: String,
    /// Extras.
    pub details: Value,
    /// Chain position.
    pub sequence: i64,
    /// Hash of the previous event.
    pub prev_hash: String,
    /// Hash of this event.
    pub hash: String,
}

impl AuditEvent {
    /// A new, not yet chained event about `action` by `actor`.
    pub fn new(actor: &str, actor_roles: &[String], action: &str, outcome: Outcome) -> Self {
        AuditEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            occurred_at: Utc::now(),
            actor: actor.to_string(),
            actor_roles: actor_roles.to_vec(),
            action: action.to_string(),
            asset_uid: String::new(),
            plugin: String::new(),
            kind: String::new(),
            name: String::new(),
            version_id: String::new(),
            environment: String::new(),
            outcome,
            reason: String::new(),
            reason_code: String::new(),
            diff: json!({}),
            approval_request_id: String::new(),
            approvals: Value::Null,
            policy_rule: String::new(),
            correlation_id: String::new(),
            action_run_id: String::new(),
            details: json!({}),
            sequence: 0,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    /// Sets the subject asset.
    pub fn subject(mut self, uid: &str, plugin: &str, kind: &str, name: &str) -> Self {
        self.asset_uid = uid.to_string();
        self.plugin = plugin.to_string();
        self.kind = kind.to_string();
        self.name = name.to_string();
        self
    }

    /// Links the event after `prev_hash` at `sequence` and seals it.
    pub fn chain(&mut self, sequence: i64, prev_hash: &str) {
        self.sequence = sequence;
        self.prev_hash = prev_hash.to_string();
        self.hash = self.computed_hash();
    }

    /// The hash this event should carry: sha256 over the canonical JSON of
    /// every field except `hash`. Times are fixed to microseconds so that
    /// a value read back from storage hashes the same.
    pub fn computed_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("hash");
            map.insert("occurredAt".into(), Value::String(micros(self.occurred_at)));
        }
        sha256_digest(canonical_json(&value).as_bytes())
    }
}

/// RFC 3339 with microseconds, the stored form of every timestamp.
pub fn micros(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A link of a chain that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// Sequence of the event.
    pub sequence: i64,
    /// Its id.
    pub event_id: String,
    /// Hash recomputed from content and previous link.
    pub expected_hash: String,
    /// Hash stored with it.
    pub stored_hash: String,
}

/// Checks one event against the hash of the event before it: its
/// `prevHash` must be that hash and its own hash must match its content.
pub fn check_link(previous_hash: &str, event: &AuditEvent) -> Result<(), BrokenLink> {
    let expected = event.computed_hash();
    if event.prev_hash != previous_hash || event.hash != expected {
        let mut relinked = event.clone();
        relinked.prev_hash = previous_hash.to_string();
        return Err(BrokenLink {
            sequence: event.sequence,
            event_id: event.event_id.clone(),
            expected_hash: relinked.computed_hash(),
            stored_hash: event.hash.clone(),
        });
    }
    Ok(())
}

/// A diff of two JSON documents for the audit trail: `{old: {...}, new:
/// {...}}` keeping, nested by path, only the leaves that differ (arrays
/// compare as wholes).
pub fn diff(old: &Value, new: &Value) -> Value {
    let (mut o, mut n) = (Map::new(), Map::new());
    diff_into(old, new, &mut o, &mut n);
    json!({"old": Value::Object(o), "new": Value::Object(n)})
}

fn diff_into(old: &Value, new: &Value, o: &mut Map<String, Value>, n: &mut Map<String, Value>) {
    let (Value::Object(a), Value::Object(b)) = (old, new) else {
        return;
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let (x, y) = (
            a.get(key).unwrap_or(&Value::Null),
            b.get(key).unwrap_or(&Value::Null),
        );
        if x == y {
            continue;
        }
        if x.is_object() && y.is_object() {
            let (mut so, mut sn) = (Map::new(), Map::new());
            diff_into(x, y, &mut so, &mut sn);
            o.insert(key.clone(), Value::Object(so));
            n.insert(key.clone(), Value::Object(sn));
        } else {
            o.insert(key.clone(), x.clone());
            n.insert(key.clone(), y.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> AuditEvent {
        AuditEvent::new("alice", &["operator".into()], action, Outcome::Success)
            .subject("uid-1", "agents", "Agent", "triage")
    }

    #[test]
    fn a_chain_verifies_and_any_edit_breaks_the_first_altered_link() {
        let mut events = vec![event("a"), event("b"), event("c")];
        let mut prev = GENESIS_HASH.to_string();
        for (i, e) in events.iter_mut().enumerate() {
            e.chain(i as i64 + 1, &prev);
            prev = e.hash.clone();
        }
        let mut prev = GENESIS_HASH.to_string();
        for e in &events {
            check_link(&prev, e).unwrap();
            prev = e.hash.clone();
        }
        events[1].actor = "mallory".into();
        let broken = check_link(&events[0].hash, &events[1]).unwrap_err();
        assert_eq!(broken.sequence, 2);
        assert_ne!(broken.expected_hash, broken.stored_hash);
    }

    #[test]
    fn the_hash_survives_a_round_trip_through_json() {
        let mut e = event("lifecycle.setState");
        e.diff = diff(&json!({"state": "draft"}), &json!({"state": "approved"}));
        e.chain(7, GENESIS_HASH);
        let back: AuditEvent = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back.computed_hash(), e.hash);
    }

    #[test]
    fn diff_keeps_only_changed_leaves() {
        let d = diff(
            &json!({"owner": {"principal": "a", "email": "x@y.z"}, "risk": {"level": "low"}}),
            &json!({"owner": {"principal": "b", "email": "x@y.z"}, "risk": {"level": "low"}}),
        );
        assert_eq!(
            d,
            json!({"old": {"owner": {"principal": "a"}}, "new": {"owner": {"principal": "b"}}})
        );
    }
}
