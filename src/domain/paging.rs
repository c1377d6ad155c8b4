//! Keyset paging: opaque page tokens that carry the last sort key and a
//! hash of the query they belong to, so a token reused with another filter
//! or order is refused instead of silently skipping or repeating items.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::{Error, Reason};

/// Default page size.
pub const DEFAULT_PAGE_SIZE: u32 = 20;
/// Largest page size; larger requests are clamped.
pub const MAX_PAGE_SIZE: u32 = 500;

/// Page size from a request: 0 means default, too large is clamped.
pub fn page_size(requested: i32) -> u32 {
    match requested {
        n if n <= 0 => DEFAULT_PAGE_SIZE,
        n => (n as u32).min(MAX_PAGE_SIZE),
    }
}

/// The position after the last item of a page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Sort value of the last item (JSON, null when the item had none).
    #[serde(rename = "k")]
    pub sort_value: Value,
    /// Tie-breaker: the last item's (plugin, kind, name, extra).
    #[serde(rename = "t")]
    pub tie: Vec<String>,
    /// Hash of the query the token belongs to.
    #[serde(rename = "h")]
    pub query_hash: String,
}

/// Hash of everything that shapes a result set except the page position.
pub fn query_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..12])
}

impl Cursor {
    /// Encodes the cursor as an opaque token.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serializes"))
    }

    /// Decodes a token and checks it belongs to the query `hash`.
    pub fn decode(token: &str, hash: &str) -> Result<Self, Error> {
        let refuse = |why: &str| {
            Error::new(
                Reason::InvalidPageToken,
                format!("pageToken {why}; start again without a pageToken"),
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| refuse("is not a token this server issued"))?;
        let cursor: Cursor = serde_json::from_slice(&bytes)
            .map_err(|_| refuse("is not a token this server issued"))?;
        if cursor.query_hash != hash {
            return Err(refuse("belongs to a different filter or order"));
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_query() {
        let h = query_hash(&["agents", "name", "ASC", ""]);
        let cursor = Cursor {
            sort_value: json!("b"),
            tie: vec!["agents".into(), "Agent".into(), "b".into()],
            query_hash: h.clone(),
        };
        let token = cursor.encode();
        assert_eq!(Cursor::decode(&token, &h).unwrap(), cursor);
        let other = query_hash(&["agents", "name", "DESC", ""]);
        assert_eq!(
            Cursor::decode(&token, &other).unwrap_err().reason,
            Reason::InvalidPageToken
        );
        assert_eq!(
            Cursor::decode("garbage!", &h).unwrap_err().reason,
            Reason::InvalidPageToken
        );
    }

    #[test]
    fn page_sizes_default_and_clamp() {
        assert_eq!(
            (
                page_size(0),
                page_size(-3),
                page_size(50),
                page_size(10_000)
            ),
            (20, 20, 50, 500)
        );
    }
}
