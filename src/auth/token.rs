//! Bearer token verification: turns an `authorization` value into a
//! [`Principal`] or an UNAUTHENTICATED error. Claims are only read from a
//! token whose signature verified; error messages never quote the token or
//! its claims, since they reach callers and logs.

use std::collections::BTreeSet;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

use super::principal::Principal;
use crate::domain::{Error, Reason};

/// Clock skew tolerated on `exp` and `nbf` (spec 08 §4.1).
pub const LEEWAY_SECONDS: u64 = 60;

/// Distinct tokens whose verification is remembered at once.
const REMEMBERED_TOKENS: usize = 1024;

/// Where signatures are checked against.
#[derive(Clone)]
pub enum VerificationKey {
    /// Shared secret: HS256 only.
    Secret(Vec<u8>),
    /// PEM public key: RS256 for RSA keys, ES256 for EC (P-256) keys.
    PublicKeyPem(Vec<u8>),
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerificationKey::Secret(_) => f.write_str("Secret(<redacted>)"),
            VerificationKey::PublicKeyPem(_) => f.write_str("PublicKeyPem"),
        }
    }
}

/// `claimValue=role` pairs, matched case-insensitively; a value may map to
/// several roles. Values without an entry are kept as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    entries: HashMap<String, Vec<String>>,
}

impl RoleMap {
    /// Parses `claimValue=role,claimValue=role`. Blank entries are skipped.
    pub fn parse(spec: &str) -> Result<RoleMap, String> {
        let mut map = RoleMap::default();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((value, role)) = entry.split_once('=') else {
                return Err(format!(
                    "CATALOG_JWT_ROLE_MAP entry {entry:?} has no '='; write claimValue=role, e.g. catalog-operator=operator"
                ));
            };
            let (value, role) = (value.trim(), role.trim());
            if value.is_empty() || role.is_empty() {
                return Err(format!(
                    "CATALOG_JWT_ROLE_MAP entry {entry:?} needs both a claim value and a role"
                ));
            }
            map.insert(value, role);
        }
        Ok(map)
    }

    /// Adds one mapping.
    pub fn insert(&mut self, claim_value: &str, role: &str) {
        let roles = self.entries.entry(claim_value.to_lowercase()).or_default();
        if !roles.iter().any(|r| r == role) {
            roles.push(role.to_string());
        }
    }

    /// The roles a claim value stands for.
    pub fn apply(&self, claim_value: &str) -> Vec<String> {
        match self.entries.get(&claim_value.to_lowercase()) {
            Some(roles) => roles.clone(),
            None => vec![claim_value.to_string()],
        }
    }
}

/// Everything [`Authenticator`] needs; built from the server configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The key signatures are checked against.
    pub key: VerificationKey,
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` (one of the token's audiences), when set.
    pub audience: Option<String>,
    /// Dot-path of the principal claim.
    pub principal_claim: String,
    /// Dot-path of the role claim.
    pub role_claim: String,
    /// Claim value to role mapping.
    pub role_map: RoleMap,
    /// Calls without a token run as [`Principal::anonymous`].
    pub allow_anonymous_read: bool,
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct Authenticator {
    key: DecodingKey,
    algorithm: Algorithm,
    validation: Validation,
    principal_claim: String,
    role_claim: String,
    role_map: RoleMap,
    allow_anonymous_read: bool,
    missing_token_hint: Option<String>,
    verified: Arc<VerifiedTokens>,
}

/// Tokens that verified, with the principal and `exp` they verified to.
/// Clients send the same token on every call; checking its signature and
/// parsing its claims once is enough while it is unexpired, since key,
/// issuer, audience and claim mapping are fixed for this authenticator's
/// life. Bounded: when full it is emptied and refills from new calls.
#[derive(Default)]
struct VerifiedTokens {
    entries: Mutex<HashMap<String, (Principal, u64)>>,
}

impl VerifiedTokens {
    /// The principal of `token` if it verified before and has not expired.
    /// Tokens inside the expiry leeway are not recalled: they go through
    /// the full check, which applies the leeway and words the refusal.
    fn recall(&self, token: &str, now: u64) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(token) {
            Some((principal, exp)) if now < *exp => Some(principal.clone()),
            _ => None,
        }
    }

    fn remember(&self, token: &str, principal: &Principal, exp: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= REMEMBERED_TOKENS {
            entries.clear();
        }
        entries.insert(token.to_string(), (principal.clone(), exp));
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("algorithm", &self.algorithm)
            .field("principal_claim", &self.principal_claim)
            .field("role_claim", &self.role_claim)
            .field("allow_anonymous_read", &self.allow_anonymous_read)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `settings`; fails with a configuration message
    /// when the key cannot be used.
    pub fn new(settings: AuthSettings) -> Result<Authenticator, String> {
        let (key, algorithm) = match &settings.key {
            VerificationKey::Secret(secret) => {
                if secret.is_empty() {
                    return Err("the JWT secret is empty".into());
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            VerificationKey::PublicKeyPem(pem) => public_key(pem)?,
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // Without a configured audience any `aud` is acceptable: tokens
            // from shared identity providers nearly always carry one.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        if settings.principal_claim.trim().is_empty() || settings.role_claim.trim().is_empty() {
            return Err(
                "CATALOG_JWT_PRINCIPAL_CLAIM and CATALOG_JWT_ROLE_CLAIM may not be empty".into(),
            );
        }
        Ok(Authenticator {
            key,
            algorithm,
            validation,
            principal_claim: settings.principal_claim,
            role_claim: settings.role_claim,
            role_map: settings.role_map,
            allow_anonymous_read: settings.allow_anonymous_read,
            missing_token_hint: None,
            verified: Arc::default(),
        })
    }

    /// Appends `hint` to the message of a call without a token (used to
    /// point local users at the development tokens).
    pub fn with_missing_token_hint(mut self, hint: impl Into<String>) -> Self {
        self.missing_token_hint = Some(hint.into());
        self
    }

    /// The algorithm tokens must be signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The dot-path of the principal claim.
    pub fn principal_claim(&self) -> &str {
        &self.principal_claim
    }

    /// The dot-path of the role claim.
    pub fn role_claim(&self) -> &str {
        &self.role_claim
    }

    /// The principal of an `authorization` value (`Bearer <JWT>`), or an
    /// UNAUTHENTICATED error saying what to fix.
    pub fn verify(&self, authorization: Option<&str>) -> Result<Principal, Error> {
        let Some(value) = authorization else {
            if self.allow_anonymous_read {
                return Ok(Principal::anonymous());
            }
            let mut message =
                "this call needs a bearer token: send the metadata `authorization: Bearer <JWT>`"
                    .to_string();
            if let Some(hint) = &self.missing_token_hint {
                message.push_str("; ");
                message.push_str(hint);
            }
            return Err(unauthenticated(message));
        };
        let token = bearer(value).ok_or_else(|| {
            unauthenticated(
                "the authorization metadata must use the Bearer scheme: `authorization: Bearer <JWT>`",
            )
        })?;
        if let Some(principal) = self.verified.recall(token, unix_now()) {
            return Ok(principal);
        }
        let (principal, exp) = self.decode(token, 0)?;
        self.verified.remember(token, &principal, exp);
        Ok(principal)
    }

    /// Verifies `token` and also requires it to stay valid for
    /// `min_remaining_seconds`; returns the principal and `exp`.
    pub(crate) fn decode(
        &self,
        token: &str,
        min_remaining_seconds: u64,
    ) -> Result<(Principal, u64), Error> {
        let mut stricter;
        let validation = if min_remaining_seconds == 0 {
            &self.validation
        } else {
            stricter = self.validation.clone();
            stricter.reject_tokens_expiring_in_less_than = min_remaining_seconds;
            stricter.leeway = 0;
            &stricter
        };
        let data = jsonwebtoken::decode::<Value>(token, &self.key, validation)
            .map_err(|e| self.refusal(e.kind()))?;
        let claims = data.claims;
        let subject = match claim(&claims, &self.principal_claim) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(_) => {
                return Err(unauthenticated(format!(
                    "the bearer token's principal claim `{}` is not a non-empty string (CATALOG_JWT_PRINCIPAL_CLAIM)",
                    self.principal_claim
                )))
            }
            None => {
                return Err(unauthenticated(format!(
                    "the bearer token has no principal claim `{}` (CATALOG_JWT_PRINCIPAL_CLAIM); tokens must name their principal",
                    self.principal_claim
                )))
            }
        };
        // `system:` names the server's own actors in the audit trail; a
        // token must not be able to pass for one of them.
        if subject
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("system:")
        {
            return Err(unauthenticated(
                "the bearer token's principal starts with `system:`, which is reserved for the server's own actors; issue the token to another principal",
            ));
        }
        let roles: BTreeSet<String> = claim_values(claim(&claims, &self.role_claim))
            .iter()
            .flat_map(|value| self.role_map.apply(value))
            .collect();
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        Ok((Principal { subject, roles }, exp))
    }

    fn refusal(&self, kind: &ErrorKind) -> Error {
        let expected = format!("{:?}", self.algorithm);
        let message = match kind {
            ErrorKind::ExpiredSignature => {
                "the bearer token has expired; obtain a new one".to_string()
            }
            ErrorKind::ImmatureSignature => {
                "the bearer token is not valid yet (its nbf is in the future); check the clocks of the issuer and this server".to_string()
            }
            ErrorKind::InvalidSignature => format!(
                "the bearer token's {expected} signature does not verify with this server's key; it was issued for another server or altered"
            ),
            ErrorKind::InvalidAlgorithm => format!(
                "the bearer token is not signed with {expected}, the only algorithm this server accepts"
            ),
            ErrorKind::InvalidIssuer => {
                "the bearer token was issued by an issuer this server does not trust (CATALOG_JWT_ISSUER)".to_string()
            }
            ErrorKind::InvalidAudience => {
                "the bearer token is meant for another audience (CATALOG_JWT_AUDIENCE)".to_string()
            }
            ErrorKind::MissingRequiredClaim(name) => match name.as_str() {
                "exp" => "the bearer token has no exp claim; tokens must expire".to_string(),
                "iss" => "the bearer token has no iss claim and this server requires one (CATALOG_JWT_ISSUER)".to_string(),
                "aud" => "the bearer token has no aud claim and this server requires one (CATALOG_JWT_AUDIENCE)".to_string(),
                other => format!("the bearer token lacks the required claim {other}"),
            },
            ErrorKind::InvalidClaimFormat(name) => {
                format!("the bearer token's {name} claim is not a number of seconds")
            }
            _ => format!(
                "the bearer token is not a well-formed JWT signed with {expected} (unsigned tokens and alg none are refused)"
            ),
        };
        unauthenticated(message)
    }
}

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(Reason::Unauthenticated, message)
}

/// The token of a `Bearer` authorization value; the scheme is
/// case-insensitive (RFC 9110).
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim();
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    (!token.is_empty()).then_some(token)
}

fn public_key(pem: &[u8]) -> Result<(DecodingKey, Algorithm), String> {
    let (key, algorithm) = match DecodingKey::from_rsa_pem(pem) {
        Ok(key) => (key, Algorithm::RS256),
        Err(_) => match DecodingKey::from_ec_pem(pem) {
            Ok(key) => (key, Algorithm::ES256),
            Err(_) => {
                return Err(
                    "CATALOG_JWT_PUBLIC_KEY_PATH does not hold a PEM RSA or EC public key".into(),
                )
            }
        },
    };
    // Verifying a dummy signature makes the crypto backend parse the key
    // now, so a key of the wrong curve fails at start-up, not per call.
    jsonwebtoken::crypto::verify("AA", b"probe", &key, algorithm).map_err(|_| {
        format!("the key in CATALOG_JWT_PUBLIC_KEY_PATH cannot verify {algorithm:?} signatures (EC keys must be P-256)")
    })?;
    Ok((key, algorithm))
}

/// Reads a PEM public key file.
pub fn read_public_key(path: &Path) -> Result<VerificationKey, String> {
    std::fs::read(path)
        .map(VerificationKey::PublicKeyPem)
        .map_err(|e| {
            format!(
                "cannot read CATALOG_JWT_PUBLIC_KEY_PATH {}: {e}",
                path.display()
            )
        })
}

/// Reads a secret file; surrounding whitespace (a final newline) is not
/// part of the secret.
pub fn read_secret(path: &Path) -> Result<VerificationKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read CATALOG_JWT_SECRET_FILE {}: {e}",
            path.display()
        )
    })?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(format!(
            "CATALOG_JWT_SECRET_FILE {} is empty",
            path.display()
        ));
    }
    Ok(VerificationKey::Secret(secret.as_bytes().to_vec()))
}

/// The value at a dot-path. A key that itself contains dots (such as the
/// URL-named claims some identity providers use) matches before the path
/// is split at them.
fn claim<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if let Some(found) = object.get(path) {
        return Some(found);
    }
    let mut split = path.len();
    while let Some(dot) = path[..split].rfind('.') {
        if let Some(inner) = object.get(&path[..dot]) {
            if let Some(found) = claim(inner, &path[dot + 1..]) {
                return Some(found);
            }
        }
        split = dot;
    }
    None
}

/// Role claim values: an array of strings, or one string of values
/// separated by spaces or commas (the OAuth `scope` style).
fn claim_values(value: Option<&Value>) -> Vec<String> {
    let split = |s: &str| -> Vec<String> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    match value {
        Some(Value::String(s)) => split(s),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .flat_map(split)
            .collect(),
        _ => Vec::new(),
    }
}

/// Signs an HS256 token with `sub` and `roles`, valid from now for
/// `lifetime_seconds` (for tests and tools that hold the secret).
pub fn issue_hs256(
    secret: &[u8],
    subject: &str,
    roles: &[&str],
    lifetime_seconds: u64,
) -> Result<String, String> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "sub": subject,
        "roles": roles,
        "iat": now,
        "exp": now + lifetime_seconds,
    });
    sign_hs256(secret, &claims)
}

/// Signs arbitrary claims with HS256.
pub fn sign_hs256(secret: &[u8], claims: &Value) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .map_err(|e| format!("cannot sign a token: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"unit-test-secret-that-is-long-enough-for-hs256";

    fn settings(key: VerificationKey) -> AuthSettings {
        AuthSettings {
            key,
            issuer: None,
            audience: None,
            principal_claim: "sub".into(),
            role_claim: "roles".into(),
            role_map: RoleMap::default(),
            allow_anonymous_read: false,
        }
    }

    fn hs256() -> Authenticator {
        Authenticator::new(settings(VerificationKey::Secret(SECRET.to_vec()))).unwrap()
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn signed(claims: Value) -> String {
        format!("Bearer {}", sign_hs256(SECRET, &claims).unwrap())
    }

    fn refusal(auth: &Authenticator, header: Option<&str>) -> String {
        let error = auth.verify(header).expect_err("refused");
        assert_eq!(error.reason, Reason::Unauthenticated);
        error.message
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/jwt")
                .join(name),
        )
        .unwrap()
    }

    fn sign_with_pem(algorithm: Algorithm, private_pem: &[u8], claims: &Value) -> String {
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem).unwrap(),
            Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem).unwrap(),
            other => panic!("{other:?}"),
        };
        let token = jsonwebtoken::encode(&Header::new(algorithm), claims, &key).unwrap();
        format!("Bearer {token}")
    }

    /// base64url without padding, for hand-made tokens.
    fn b64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn a_valid_hs256_token_names_the_principal_and_roles() {
        let token = issue_hs256(SECRET, "alice", &["operator", "custom"], 600).unwrap();
        let principal = hs256().verify(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(principal.subject, "alice");
        assert_eq!(
            principal.roles.iter().collect::<Vec<_>>(),
            ["custom", "operator"]
        );
        let lower = hs256().verify(Some(&format!("bearer  {token} "))).unwrap();
        assert_eq!(lower, principal);
    }

    #[test]
    fn a_missing_token_is_refused_unless_anonymous_reads_are_on() {
        let message = refusal(&hs256(), None);
        assert!(message.contains("authorization: Bearer"), "{message}");
        let hinted = hs256().with_missing_token_hint("see /x/dev-admin.token");
        assert!(refusal(&hinted, None).ends_with("see /x/dev-admin.token"));
        let mut open = settings(VerificationKey::Secret(SECRET.to_vec()));
        open.allow_anonymous_read = true;
        let open = Authenticator::new(open).unwrap();
        assert_eq!(open.verify(None).unwrap(), Principal::anonymous());
        let bad = signed(json!({"sub": "x", "exp": now() + 600})).replace("Bearer e", "Bearer x");
        assert!(
            open.verify(Some(&bad)).is_err(),
            "an invalid token is refused even when anonymous reads are allowed"
        );
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused() {
        for header in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "", "token"] {
            let message = refusal(&hs256(), Some(header));
            assert!(message.contains("Bearer scheme"), "{header:?}: {message}");
        }
    }

    #[test]
    fn expired_tokens_are_refused_after_the_leeway() {
        let recent = signed(json!({"sub": "a", "exp": now() - 30}));
        assert!(
            hs256().verify(Some(&recent)).is_ok(),
            "within the 60 s leeway"
        );
        let old = signed(json!({"sub": "a", "exp": now() - 120}));
        let message = refusal(&hs256(), Some(&old));
        assert!(message.contains("expired"), "{message}");
        let no_exp = signed(json!({"sub": "a"}));
        assert!(refusal(&hs256(), Some(&no_exp)).contains("no exp claim"));
    }

    #[test]
    fn not_before_is_honoured() {
        let future = signed(json!({"sub": "a", "exp": now() + 900, "nbf": now() + 600}));
        assert!(refusal(&hs256(), Some(&future)).contains("not valid yet"));
        let soon = signed(json!({"sub": "a", "exp": now() + 900, "nbf": now() + 30}));
        assert!(hs256().verify(Some(&soon)).is_ok());
    }

    #[test]
    fn a_wrong_signature_is_refused_without_quoting_the_token() {
        let token = issue_hs256(
            b"another-secret-of-sufficient-length!!",
            "mallory",
            &["admin"],
            600,
        )
        .unwrap();
        let header = format!("Bearer {token}");
        let message = refusal(&hs256(), Some(&header));
        assert!(message.contains("signature does not verify"), "{message}");
        assert!(!message.contains(&token) && !message.contains("mallory"));
        // Tampering with the payload of a genuine token breaks it too.
        let genuine = issue_hs256(SECRET, "bob", &["viewer"], 600).unwrap();
        let parts: Vec<&str> = genuine.split('.').collect();
        let forged_claims = b64(
            json!({"sub": "bob", "roles": ["admin"], "exp": now() + 600})
                .to_string()
                .as_bytes(),
        );
        let forged = format!("Bearer {}.{}.{}", parts[0], forged_claims, parts[2]);
        assert!(refusal(&hs256(), Some(&forged)).contains("signature"));
    }

    #[test]
    fn alg_none_is_refused() {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = b64(
            json!({"sub": "root", "roles": ["admin"], "exp": now() + 600})
                .to_string()
                .as_bytes(),
        );
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            let message = refusal(&hs256(), Some(&format!("Bearer {token}")));
            assert!(message.contains("alg none"), "{message}");
        }
    }

    #[test]
    fn public_keys_select_rs256_or_es256_and_refuse_every_other_algorithm() {
        let claims = json!({"sub": "svc", "roles": ["viewer"], "exp": now() + 600});
        let rsa = Authenticator::new(settings(VerificationKey::PublicKeyPem(fixture(
            "rsa-public.pem",
        ))))
        .unwrap();
        let ec = Authenticator::new(settings(VerificationKey::PublicKeyPem(fixture(
            "ec-public.pem",
        ))))
        .unwrap();
        assert_eq!(
            (rsa.algorithm(), ec.algorithm()),
            (Algorithm::RS256, Algorithm::ES256)
        );
        let rs_token = sign_with_pem(Algorithm::RS256, &fixture("rsa-private.pem"), &claims);
        let es_token = sign_with_pem(Algorithm::ES256, &fixture("ec-private.pem"), &claims);
        assert_eq!(rsa.verify(Some(&rs_token)).unwrap().subject, "svc");
        assert_eq!(ec.verify(Some(&es_token)).unwrap().subject, "svc");
        assert!(refusal(&rsa, Some(&es_token)).contains("only algorithm"));
        assert!(refusal(&ec, Some(&rs_token)).contains("only algorithm"));
        // The classic confusion: an HS256 token keyed with the public key's
        // own bytes must not pass as RS256.
        let confused = format!(
            "Bearer {}",
            sign_hs256(&fixture("rsa-public.pem"), &claims).unwrap()
        );
        assert!(refusal(&rsa, Some(&confused)).contains("RS256"));
        assert!(refusal(&hs256(), Some(&rs_token)).contains("HS256"));
        assert!(Authenticator::new(settings(VerificationKey::PublicKeyPem(
            b"not a key".to_vec()
        )))
        .is_err());
    }

    #[test]
    fn tokens_cannot_name_a_system_actor() {
        let token = signed(json!({"sub": "System:ingest", "roles": ["admin"], "exp": now() + 600}));
        assert!(refusal(&hs256(), Some(&token)).contains("reserved"));
    }

    #[test]
    fn the_principal_claim_is_required_and_has_no_fallback() {
        let no_sub = signed(json!({"email": "a@example.com", "exp": now() + 600}));
        let message = refusal(&hs256(), Some(&no_sub));
        assert!(message.contains("no principal claim `sub`"), "{message}");
        assert!(!message.contains("a@example.com"));
        let empty = signed(json!({"sub": " ", "exp": now() + 600}));
        assert!(refusal(&hs256(), Some(&empty)).contains("not a non-empty string"));
        let mut by_email = settings(VerificationKey::Secret(SECRET.to_vec()));
        by_email.principal_claim = "profile.email".into();
        let by_email = Authenticator::new(by_email).unwrap();
        let nested = signed(
            json!({"sub": "123", "profile": {"email": "a@example.com"}, "exp": now() + 600}),
        );
        assert_eq!(
            by_email.verify(Some(&nested)).unwrap().subject,
            "a@example.com"
        );
        assert!(
            by_email.verify(Some(&no_sub)).is_err(),
            "no fallback to sub or email"
        );
    }

    #[test]
    fn role_claims_may_be_strings_nested_or_dotted_keys() {
        let mut nested = settings(VerificationKey::Secret(SECRET.to_vec()));
        nested.role_claim = "realm_access.roles".into();
        let nested = Authenticator::new(nested).unwrap();
        let token = signed(
            json!({"sub": "k", "realm_access": {"roles": ["operator", "offline_access"]}, "exp": now() + 600}),
        );
        let roles = nested.verify(Some(&token)).unwrap().roles;
        assert_eq!(
            roles.into_iter().collect::<Vec<_>>(),
            ["offline_access", "operator"]
        );

        let string =
            signed(json!({"sub": "s", "roles": "viewer approver,custom", "exp": now() + 600}));
        let roles = hs256().verify(Some(&string)).unwrap().roles;
        assert_eq!(
            roles.into_iter().collect::<Vec<_>>(),
            ["approver", "custom", "viewer"]
        );

        let mut url = settings(VerificationKey::Secret(SECRET.to_vec()));
        url.role_claim = "https://example.com/roles".into();
        let url = Authenticator::new(url).unwrap();
        let token =
            signed(json!({"sub": "u", "https://example.com/roles": ["admin"], "exp": now() + 600}));
        assert!(url.verify(Some(&token)).unwrap().has_role("operator"));

        let none = signed(json!({"sub": "n", "exp": now() + 600}));
        assert!(hs256().verify(Some(&none)).unwrap().roles.is_empty());
    }

    #[test]
    fn the_role_map_is_case_insensitive_and_keeps_unmapped_values() {
        let mut mapped = settings(VerificationKey::Secret(SECRET.to_vec()));
        mapped.role_map =
            RoleMap::parse("catalog-operator=operator, Catalog-Approver=approver,,sec=security-approver,sec=viewer").unwrap();
        let mapped = Authenticator::new(mapped).unwrap();
        let token = signed(
            json!({"sub": "m", "roles": ["CATALOG-OPERATOR", "catalog-approver", "SEC", "team-x"], "exp": now() + 600}),
        );
        let roles = mapped.verify(Some(&token)).unwrap().roles;
        assert_eq!(
            roles.into_iter().collect::<Vec<_>>(),
            [
                "approver",
                "operator",
                "security-approver",
                "team-x",
                "viewer"
            ]
        );
        assert!(RoleMap::parse("operator").is_err());
        assert!(RoleMap::parse("=operator").is_err());
        assert!(RoleMap::parse("x=").is_err());
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let mut strict = settings(VerificationKey::Secret(SECRET.to_vec()));
        strict.issuer = Some("https://idp.example".into());
        strict.audience = Some("catalog".into());
        let strict = Authenticator::new(strict).unwrap();
        let good = signed(
            json!({"sub": "a", "iss": "https://idp.example", "aud": ["other", "catalog"], "exp": now() + 600}),
        );
        assert!(strict.verify(Some(&good)).is_ok());
        let wrong_iss = signed(
            json!({"sub": "a", "iss": "https://evil.example", "aud": "catalog", "exp": now() + 600}),
        );
        assert!(refusal(&strict, Some(&wrong_iss)).contains("CATALOG_JWT_ISSUER"));
        let wrong_aud = signed(
            json!({"sub": "a", "iss": "https://idp.example", "aud": "other", "exp": now() + 600}),
        );
        assert!(refusal(&strict, Some(&wrong_aud)).contains("CATALOG_JWT_AUDIENCE"));
        let no_iss = signed(json!({"sub": "a", "aud": "catalog", "exp": now() + 600}));
        assert!(refusal(&strict, Some(&no_iss)).contains("no iss claim"));
        let no_aud = signed(json!({"sub": "a", "iss": "https://idp.example", "exp": now() + 600}));
        assert!(refusal(&strict, Some(&no_aud)).contains("no aud claim"));
        // Unconfigured, any audience passes.
        assert!(hs256().verify(Some(&wrong_aud)).is_ok());
    }

    #[test]
    fn decode_can_demand_remaining_validity() {
        let token = issue_hs256(SECRET, "d", &[], 3600).unwrap();
        let (_, exp) = hs256().decode(&token, 1800).unwrap();
        assert!(exp >= now() + 3590);
        assert!(hs256().decode(&token, 7200).is_err());
    }

    #[test]
    fn a_remembered_token_answers_alike_and_only_until_it_expires() {
        let auth = hs256();
        let token = issue_hs256(SECRET, "carol", &["viewer"], 600).unwrap();
        let header = format!("Bearer {token}");
        let first = auth.verify(Some(&header)).unwrap();
        let (_, exp) = auth.decode(&token, 0).unwrap();
        assert_eq!(auth.verify(Some(&header)).unwrap(), first);
        assert_eq!(auth.verified.recall(&token, exp - 1), Some(first));
        assert_eq!(
            auth.verified.recall(&token, exp),
            None,
            "expired entries are not recalled"
        );
        // A token differing only in its signature is a different entry and
        // goes through the full check.
        let last = if header.ends_with('A') { 'B' } else { 'A' };
        let forged = format!("{}{last}", &header[..header.len() - 1]);
        assert!(auth.verify(Some(&forged)).is_err());
    }

    #[test]
    fn remembered_tokens_stay_bounded() {
        let tokens = VerifiedTokens::default();
        let principal = Principal::anonymous();
        for i in 0..REMEMBERED_TOKENS + 10 {
            tokens.remember(&format!("token-{i}"), &principal, u64::MAX);
        }
        let held = tokens.entries.lock().unwrap().len();
        assert!(held <= REMEMBERED_TOKENS, "{held}");
        assert!(tokens
            .recall(&format!("token-{}", REMEMBERED_TOKENS + 9), 0)
            .is_some());
    }
}
