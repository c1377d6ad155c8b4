//! Local development credentials (spec 12 §9.1): on a loopback listener
//! with no configured secret or key, a generated HS256 secret and a few
//! ready-made tokens in the data directory, so that a person on the same
//! machine can use every RPC without setting up an identity provider.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::token::{sign_hs256, Authenticator};

/// File holding the generated secret (hex text, usable as
/// CATALOG_JWT_SECRET_FILE by other tools).
pub const SECRET_FILE: &str = "dev-jwt.secret";

/// How long a generated token is valid.
pub const TOKEN_LIFETIME_SECONDS: u64 = 30 * 24 * 3600;

/// Tokens closer than this to expiry are replaced at start-up, so a token
/// read from disk never dies during a working day.
pub const RENEW_BEFORE_SECONDS: u64 = 24 * 3600;

/// Random bytes in a generated secret.
const SECRET_BYTES: usize = 32;

/// One generated principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevPrincipal {
    /// Token file name in the data directory.
    pub file: &'static str,
    /// Principal claim.
    pub subject: &'static str,
    /// Role claim.
    pub roles: &'static [&'static str],
}

/// The generated principals: an all-powerful admin, a second approver so
/// that separation of duties can be tried, and a read-only viewer.
pub const PRINCIPALS: &[DevPrincipal] = &[
    DevPrincipal {
        file: "dev-admin.token",
        subject: "dev-admin",
        roles: &["admin", "operator", "approver", "security-approver"],
    },
    DevPrincipal {
        file: "dev-approver.token",
        subject: "dev-approver",
        roles: &["approver", "security-approver"],
    },
    DevPrincipal {
        file: "dev-viewer.token",
        subject: "dev-viewer",
        roles: &["viewer"],
    },
];

/// Where the development credentials are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevCredentials {
    /// The data directory.
    pub dir: PathBuf,
    /// The generated secret.
    pub secret_file: PathBuf,
    /// `(subject, token file)` for each of [`PRINCIPALS`].
    pub tokens: Vec<(String, PathBuf)>,
}

impl DevCredentials {
    /// The token file of `subject` (e.g. `dev-admin`).
    pub fn token_file(&self, subject: &str) -> Option<&Path> {
        self.tokens
            .iter()
            .find(|(s, _)| s == subject)
            .map(|(_, p)| p.as_path())
    }

    /// The admin token file.
    pub fn admin_token_file(&self) -> &Path {
        self.token_file(PRINCIPALS[0].subject)
            .expect("the admin is the first development principal")
    }
}

/// The data directory: the folder of the SQLite database file, else
/// `./data` (PostgreSQL and in-memory databases have no folder of theirs).
pub fn data_dir(database_url: &str) -> PathBuf {
    crate::storage::sqlite_file(database_url)
        .and_then(|file| file.parent().map(Path::to_path_buf))
        .map(|dir| {
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            }
        })
        .unwrap_or_else(|| PathBuf::from("./data"))
}

/// Reads the secret in `dir`, creating it on first use. Returns the
/// secret's bytes (the hex text, as CATALOG_JWT_SECRET_FILE would read it).
pub fn load_or_create_secret(dir: &Path) -> Result<Vec<u8>, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the data directory {}: {e}", dir.display()))?;
    let path = dir.join(SECRET_FILE);
    if let Some(secret) = read_existing_secret(&path)? {
        return Ok(secret);
    }
    let mut random = [0u8; SECRET_BYTES];
    getrandom::fill(&mut random).map_err(|e| format!("no randomness for the JWT secret: {e}"))?;
    let text = hex::encode(random);
    // Two servers starting on one data directory must agree on one secret:
    // publish with a hard link, which fails if the other got there first.
    let staged = staged_path(&path);
    write_private(&staged, text.as_bytes())?;
    let linked = std::fs::hard_link(&staged, &path);
    let _ = std::fs::remove_file(&staged);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a local development JWT secret");
            Ok(text.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_existing_secret(&path)?
            .ok_or_else(|| format!("{} is not a usable secret; delete it", path.display())),
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

fn read_existing_secret(path: &Path) -> Result<Option<Vec<u8>>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = text.trim();
            if secret.len() < 2 * SECRET_BYTES {
                tracing::warn!(path = %path.display(), "the local development JWT secret is too short; replacing it");
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
                return Ok(None);
            }
            restrict(path)?;
            Ok(Some(secret.as_bytes().to_vec()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Makes sure every development token in `dir` verifies with
/// `authenticator` (which holds the development secret), names its
/// principal and roles, and stays valid for a day; rewrites the others.
pub fn ensure_tokens(
    dir: &Path,
    secret: &[u8],
    authenticator: &Authenticator,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<DevCredentials, String> {
    let mut tokens = Vec::new();
    for principal in PRINCIPALS {
        let path = dir.join(principal.file);
        if !token_is_current(&path, principal, authenticator)? {
            let claims = claims(principal, authenticator, issuer, audience);
            let token = sign_hs256(secret, &claims)?;
            let staged = staged_path(&path);
            write_private(&staged, format!("{token}\n").as_bytes())?;
            std::fs::rename(&staged, &path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        tokens.push((principal.subject.to_string(), path));
    }
    Ok(DevCredentials {
        dir: dir.to_path_buf(),
        secret_file: dir.join(SECRET_FILE),
        tokens,
    })
}

fn token_is_current(
    path: &Path,
    expected: &DevPrincipal,
    authenticator: &Authenticator,
) -> Result<bool, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let current = match authenticator.decode(text.trim(), RENEW_BEFORE_SECONDS) {
        Ok((principal, _)) => {
            principal.subject == expected.subject
                && principal
                    .roles
                    .iter()
                    .map(String::as_str)
                    .eq(sorted(expected.roles))
        }
        Err(_) => false,
    };
    if current {
        restrict(path)?;
    }
    Ok(current)
}

fn sorted(roles: &[&'static str]) -> Vec<&'static str> {
    let mut roles = roles.to_vec();
    roles.sort_unstable();
    roles.dedup();
    roles
}

/// The claims of a development token, at the claim paths the server is
/// configured to read, so the tokens work whatever those are.
fn claims(
    principal: &DevPrincipal,
    authenticator: &Authenticator,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims = serde_json::json!({
        "sub": principal.subject,
        "iat": now,
        "exp": now + TOKEN_LIFETIME_SECONDS,
    });
    set_claim(
        &mut claims,
        authenticator.principal_claim(),
        principal.subject.into(),
    );
    set_claim(
        &mut claims,
        authenticator.role_claim(),
        principal.roles.into(),
    );
    if let Some(issuer) = issuer {
        claims["iss"] = issuer.into();
    }
    if let Some(audience) = audience {
        claims["aud"] = audience.into();
    }
    claims
}

fn set_claim(claims: &mut Value, path: &str, value: Value) {
    let mut at = claims;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        let object = at.as_object_mut().expect("made an object above");
        if segments.peek().is_none() {
            object.insert(segment.to_string(), value);
            return;
        }
        at = object
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

fn staged_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Writes a new file readable by its owner only.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    restrict(path)
}

/// Resets a credential file to mode 0600 in case someone widened it.
fn restrict(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o777 != 0o600 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("cannot restrict {} to mode 0600: {e}", path.display()))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::token::{AuthSettings, RoleMap, VerificationKey};
    use super::*;

    fn authenticator(secret: &[u8], role_claim: &str) -> Authenticator {
        Authenticator::new(AuthSettings {
            key: VerificationKey::Secret(secret.to_vec()),
            issuer: None,
            audience: None,
            principal_claim: "sub".into(),
            role_claim: role_claim.into(),
            role_map: RoleMap::default(),
            allow_anonymous_read: false,
        })
        .unwrap()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_data_dir_follows_the_sqlite_file() {
        assert_eq!(
            data_dir("sqlite://./data/catalog.db"),
            PathBuf::from("./data")
        );
        assert_eq!(
            data_dir("sqlite:///var/lib/catalog/c.db?mode=rwc"),
            PathBuf::from("/var/lib/catalog")
        );
        assert_eq!(data_dir("sqlite:catalog.db"), PathBuf::from("."));
        assert_eq!(data_dir("sqlite::memory:"), PathBuf::from("./data"));
        assert_eq!(data_dir("postgres://u@h/db"), PathBuf::from("./data"));
    }

    #[test]
    fn the_secret_is_created_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let first = load_or_create_secret(&nested).unwrap();
        assert!(first.len() >= 2 * SECRET_BYTES);
        assert_eq!(load_or_create_secret(&nested).unwrap(), first);
        #[cfg(unix)]
        assert_eq!(mode(&nested.join(SECRET_FILE)), 0o600);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create_secret(other.path()).unwrap(), first);
        std::fs::write(nested.join(SECRET_FILE), "short\n").unwrap();
        let replaced = load_or_create_secret(&nested).unwrap();
        assert_ne!(replaced, b"short");
        assert!(replaced.len() >= 2 * SECRET_BYTES);
    }

    #[test]
    fn tokens_are_written_private_reused_and_renewed() {
        let dir = tempfile::tempdir().unwrap();
        let secret = load_or_create_secret(dir.path()).unwrap();
        let auth = authenticator(&secret, "roles");
        let creds = ensure_tokens(dir.path(), &secret, &auth, None, None).unwrap();
        assert_eq!(creds.tokens.len(), PRINCIPALS.len());
        for principal in PRINCIPALS {
            let path = creds.token_file(principal.subject).unwrap();
            #[cfg(unix)]
            assert_eq!(mode(path), 0o600, "{}", path.display());
            let token = std::fs::read_to_string(path).unwrap();
            let verified = auth
                .verify(Some(&format!("Bearer {}", token.trim())))
                .unwrap();
            assert_eq!(verified.subject, principal.subject);
            assert_eq!(verified.roles.len(), principal.roles.len());
        }
        assert!(creds.admin_token_file().ends_with("dev-admin.token"));
        let admin = std::fs::read_to_string(creds.admin_token_file()).unwrap();

        // A second start keeps valid tokens as they are.
        ensure_tokens(dir.path(), &secret, &auth, None, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(creds.admin_token_file()).unwrap(),
            admin
        );

        // A token close to expiry is renewed; so is one under another key.
        let now = jsonwebtoken::get_current_timestamp();
        let expiring = sign_hs256(
            &secret,
            &serde_json::json!({"sub": "dev-admin", "roles": PRINCIPALS[0].roles, "exp": now + 3600}),
        )
        .unwrap();
        std::fs::write(creds.admin_token_file(), &expiring).unwrap();
        let viewer_file = creds.token_file("dev-viewer").unwrap().to_path_buf();
        let foreign = super::super::token::issue_hs256(
            b"a-different-secret-0123456789abcdef",
            "dev-viewer",
            &["viewer"],
            TOKEN_LIFETIME_SECONDS,
        )
        .unwrap();
        std::fs::write(&viewer_file, &foreign).unwrap();
        ensure_tokens(dir.path(), &secret, &auth, None, None).unwrap();
        let renewed = std::fs::read_to_string(creds.admin_token_file()).unwrap();
        assert_ne!(renewed.trim(), expiring);
        let (_, exp) = auth.decode(renewed.trim(), RENEW_BEFORE_SECONDS).unwrap();
        assert!(exp >= now + TOKEN_LIFETIME_SECONDS - 60);
        let viewer = std::fs::read_to_string(&viewer_file).unwrap();
        assert_ne!(viewer.trim(), foreign);
        assert!(auth
            .verify(Some(&format!("Bearer {}", viewer.trim())))
            .is_ok());
        #[cfg(unix)]
        assert_eq!(mode(creds.admin_token_file()), 0o600);
    }

    #[test]
    fn tokens_follow_the_configured_claim_paths() {
        let dir = tempfile::tempdir().unwrap();
        let secret = load_or_create_secret(dir.path()).unwrap();
        let auth = authenticator(&secret, "realm_access.roles");
        let creds = ensure_tokens(dir.path(), &secret, &auth, None, None).unwrap();
        let token = std::fs::read_to_string(creds.admin_token_file()).unwrap();
        let admin = auth
            .verify(Some(&format!("Bearer {}", token.trim())))
            .unwrap();
        assert!(admin.has_role("admin") && admin.has_role("operator"));
    }
}
