//! The four principals every run uses (spec 11 §1): given as tokens, or
//! minted from the server's HS256 secret with the server's default claims
//! (`sub`, `roles`).

use std::path::Path;

/// One principal of the run.
#[derive(Debug, Clone)]
pub struct Who {
    /// The token's subject, as the audit trail names the actor.
    pub subject: String,
    /// Bearer token.
    pub token: String,
}

/// operator, approver1, approver2 (also security-approver) and viewer.
#[derive(Debug, Clone)]
pub struct Identities {
    pub operator: Who,
    pub approver1: Who,
    pub approver2: Who,
    pub viewer: Who,
}

/// (label, subject, roles) of each principal when the harness mints tokens.
const MINTED: [(&str, &str, &[&str]); 4] = [
    ("operator", "ct-operator", &["operator"]),
    ("approver1", "ct-approver-1", &["approver"]),
    (
        "approver2",
        "ct-approver-2",
        &["approver", "security-approver"],
    ),
    ("viewer", "ct-viewer", &["viewer"]),
];

impl Identities {
    /// Tokens signed with `secret` (HS256), valid for two hours.
    pub fn minted(secret: &[u8]) -> Result<Identities, String> {
        let now = chrono::Utc::now().timestamp();
        let mint = |(label, subject, roles): (&'static str, &str, &[&str])| {
            let claims =
                serde_json::json!({"sub": subject, "roles": roles, "iat": now, "exp": now + 7200});
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &claims,
                &jsonwebtoken::EncodingKey::from_secret(secret),
            )
            .map(|token| Who {
                subject: subject.to_string(),
                token,
            })
            .map_err(|e| format!("cannot sign a token for {label}: {e}"))
        };
        let [o, a1, a2, v] = MINTED;
        Ok(Identities {
            operator: mint(o)?,
            approver1: mint(a1)?,
            approver2: mint(a2)?,
            viewer: mint(v)?,
        })
    }

    /// Tokens given one per principal; the subject is read from each
    /// token's payload (not verified here: the server does that).
    pub fn given(tokens: [String; 4]) -> Result<Identities, String> {
        let [o, a1, a2, v] = tokens;
        let who = |label: &'static str, token: String| -> Result<Who, String> {
            Ok(Who {
                subject: subject_of(&token)
                    .ok_or_else(|| format!("the {label} token has no readable sub claim"))?,
                token,
            })
        };
        let ids = Identities {
            operator: who("operator", o)?,
            approver1: who("approver1", a1)?,
            approver2: who("approver2", a2)?,
            viewer: who("viewer", v)?,
        };
        let mut subjects = [&ids.operator, &ids.approver1, &ids.approver2, &ids.viewer]
            .map(|w| w.subject.clone())
            .to_vec();
        subjects.sort();
        subjects.dedup();
        if subjects.len() != 4 {
            return Err("the four tokens must name four distinct principals".into());
        }
        Ok(ids)
    }
}

/// Reads a secret file, trimming one trailing newline.
pub fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes =
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(bytes)
}

fn subject_of(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    json.get("sub")?.as_str().map(str::to_string)
}
