//! Test harness: a real server on 127.0.0.1:0 over a fresh database, either
//! SQLite in a temp dir (default) or a new PostgreSQL database when
//! CATALOG_TEST_DATABASE_URL names a PostgreSQL server. Each server gets a
//! random JWT secret; its clients send an admin token unless told otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use catalog::config::ServerConfig;
use catalog::proto::catalog::governance::v1alpha1 as gpb;
use catalog::proto::catalog::v1alpha1 as pb;
use catalog::server::{start, RunningServer};
use clap::Parser;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub channel: Channel,
    pub dir: tempfile::TempDir,
    /// The server's JWT secret (None: it made development credentials).
    pub secret: Option<String>,
    /// The token the clients send by default.
    pub default_token: Option<String>,
    /// The database the server uses.
    pub database_url: String,
}

/// Adds `authorization: Bearer <token>` to every call (nothing when None).
#[derive(Clone)]
pub struct Bearer(Option<AsciiMetadataValue>);

impl Bearer {
    pub fn new(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| MetadataValue::try_from(format!("Bearer {t}")).unwrap()))
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A channel that sends a bearer token.
pub type Authed = InterceptedService<Channel, Bearer>;

/// A random secret, different for every server.
pub fn random_secret() -> String {
    format!(
        "test-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// A token signed with `secret`, valid for an hour.
pub fn mint(secret: &str, subject: &str, roles: &[&str]) -> String {
    catalog::auth::issue_hs256(secret.as_bytes(), subject, roles, 3600).unwrap()
}

/// A copy of the project's samples in a temp dir, so tests may edit them.
pub fn copy_samples(dir: &Path) -> PathBuf {
    let target = dir.join("samples");
    copy_dir(&repo().join("samples"), &target);
    target.join("catalog-sources.yaml")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A fresh database URL for one test.
pub async fn fresh_database(dir: &Path) -> String {
    match std::env::var("CATALOG_TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            use sqlx::Executor;
            sqlx::any::install_default_drivers();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let name = format!("t_{now}_{}", uuid::Uuid::new_v4().simple());
            let admin = sqlx::AnyPool::connect(&url)
                .await
                .expect("PostgreSQL for tests is reachable");
            drop_stale_databases(&admin, now).await;
            admin
                .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .unwrap();
            admin.close().await;
            let base = url
                .rsplit_once('/')
                .map(|(b, _)| b.to_string())
                .unwrap_or(url.clone());
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}/catalog.db", dir.display()),
    }
}

/// Drops the databases earlier test runs left behind (named by
/// [`fresh_database`], more than an hour old), once per test process: a
/// developer's PostgreSQL otherwise gains one database per test and run.
async fn drop_stale_databases(admin: &sqlx::AnyPool, now: u64) {
    use sqlx::Executor;
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname::text FROM pg_database WHERE datname LIKE 't\\_%'",
            )
            .fetch_all(admin)
            .await
            .expect("the test databases can be listed");
            for name in names {
                if test_database_age(&name, now).is_some_and(|age| age > 3600) {
                    let _ = admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await;
                }
            }
        })
        .await;
}

/// Seconds since [`fresh_database`] made the database `name` (`t_<unix
/// seconds>_<uuid>`; `t_<uuid>` is from before names carried a time and
/// counts as old); `None` for any other name.
fn test_database_age(name: &str, now: u64) -> Option<u64> {
    let is_uuid = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let rest = name.strip_prefix("t_")?;
    if is_uuid(rest) {
        return Some(u64::MAX);
    }
    let (secs, uuid) = rest.split_once('_')?;
    let secs: u64 = secs.parse().ok()?;
    is_uuid(uuid).then(|| now.saturating_sub(secs))
}

pub struct Options {
    /// Bind 0.0.0.0 instead of 127.0.0.1 (clients still use loopback).
    pub listen_any: bool,
    pub sources: Vec<PathBuf>,
    pub plugins_dir: Option<PathBuf>,
    pub reconcile_seconds: u64,
    pub database_url: Option<String>,
    /// CATALOG_JWT_SECRET; None leaves the server to its development
    /// credentials (loopback) or to refuse to start.
    pub jwt_secret: Option<String>,
    /// More command-line arguments.
    pub extra_args: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen_any: false,
            sources: vec![],
            plugins_dir: None,
            reconcile_seconds: 60,
            database_url: None,
            jwt_secret: Some(random_secret()),
            extra_args: vec![],
        }
    }
}

impl TestServer {
    /// A server over the project's samples (copied).
    pub async fn samples() -> TestServer {
        TestServer::start_with(|dir| Options {
            sources: vec![copy_samples(dir)],
            ..Default::default()
        })
        .await
    }

    pub async fn start_with(options: impl FnOnce(&Path) -> Options) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let options = options(dir.path());
        let database_url = match options.database_url.clone() {
            Some(url) => url,
            None => fresh_database(dir.path()).await,
        };
        let server = start_server(&database_url, &options).await;
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", server.addr.port()))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let default_token = options
            .jwt_secret
            .as_deref()
            .map(|secret| mint(secret, "test-admin", &["admin"]));
        let test = TestServer {
            server: Some(server),
            channel,
            dir,
            secret: options.jwt_secret.clone(),
            default_token,
            database_url: database_url.clone(),
        };
        test.wait_serving().await;
        test.wait_discovered().await;
        test
    }

    /// Waits until `/readyz` reports the governance overlay of the first
    /// load written: the server is ready before it is, and tests read
    /// first versions and events of the sample assets straight away.
    pub async fn wait_discovered(&self) {
        let addr = self.server.as_ref().expect("running").addr;
        for _ in 0..600 {
            let answer = http_get(addr, "/readyz", &[]).await;
            if answer.body.contains("\"discovery\":\"done\"") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the first load's governance overlay was never reported written");
    }

    /// A token for `subject` with `roles`, signed with this server's secret.
    pub fn token(&self, subject: &str, roles: &[&str]) -> String {
        mint(
            self.secret
                .as_deref()
                .expect("this server has a JWT secret"),
            subject,
            roles,
        )
    }

    /// The channel, sending `token` (or no token) with every call.
    pub fn authed(&self, token: Option<&str>) -> Authed {
        InterceptedService::new(self.channel.clone(), Bearer::new(token))
    }

    pub fn plugins(&self) -> pb::plugin_service_client::PluginServiceClient<Authed> {
        self.plugins_as(self.default_token.as_deref())
    }

    pub fn plugins_as(
        &self,
        token: Option<&str>,
    ) -> pb::plugin_service_client::PluginServiceClient<Authed> {
        pb::plugin_service_client::PluginServiceClient::new(self.authed(token))
    }

    pub fn assets(&self) -> pb::asset_service_client::AssetServiceClient<Authed> {
        self.assets_as(self.default_token.as_deref())
    }

    pub fn assets_as(
        &self,
        token: Option<&str>,
    ) -> pb::asset_service_client::AssetServiceClient<Authed> {
        pb::asset_service_client::AssetServiceClient::new(self.authed(token))
    }

    pub fn sources(&self) -> pb::source_service_client::SourceServiceClient<Authed> {
        self.sources_as(self.default_token.as_deref())
    }

    pub fn sources_as(
        &self,
        token: Option<&str>,
    ) -> pb::source_service_client::SourceServiceClient<Authed> {
        pb::source_service_client::SourceServiceClient::new(self.authed(token))
    }

    pub fn governance(&self) -> gpb::governance_service_client::GovernanceServiceClient<Authed> {
        self.governance_as(self.default_token.as_deref())
    }

    pub fn governance_as(
        &self,
        token: Option<&str>,
    ) -> gpb::governance_service_client::GovernanceServiceClient<Authed> {
        gpb::governance_service_client::GovernanceServiceClient::new(self.authed(token))
    }

    pub fn approvals_as(
        &self,
        token: Option<&str>,
    ) -> gpb::approval_service_client::ApprovalServiceClient<Authed> {
        gpb::approval_service_client::ApprovalServiceClient::new(self.authed(token))
    }

    pub fn audit(&self) -> gpb::audit_service_client::AuditServiceClient<Authed> {
        gpb::audit_service_client::AuditServiceClient::new(
            self.authed(self.default_token.as_deref()),
        )
    }

    pub fn health(&self) -> tonic_health::pb::health_client::HealthClient<Channel> {
        tonic_health::pb::health_client::HealthClient::new(self.channel.clone())
    }

    pub async fn serving(&self) -> bool {
        let check = self
            .health()
            .check(tonic_health::pb::HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap()
            .into_inner();
        check.status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    }

    pub async fn wait_serving(&self) {
        for _ in 0..300 {
            if self.serving().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server never became SERVING");
    }

    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// Every asset of a plugin, following page tokens.
    pub async fn all_assets(&self, plugin: &str, filter: &str) -> Vec<pb::AssetResource> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .assets()
                .list_assets(pb::ListAssetsRequest {
                    plugin: plugin.into(),
                    filter_query: filter.into(),
                    page_size: 500,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            out.extend(page.items);
            if page.next_page_token.is_empty() {
                return out;
            }
            token = page.next_page_token;
        }
    }

    pub async fn get(
        &self,
        plugin: &str,
        kind: &str,
        name: &str,
    ) -> Result<pb::AssetResource, tonic::Status> {
        self.assets()
            .get_asset(pb::GetAssetRequest {
                plugin: plugin.into(),
                kind: kind.into(),
                name: name.into(),
            })
            .await
            .map(|r| r.into_inner())
    }

    pub async fn source(&self, plugin: &str, id: &str) -> pb::SourceInfo {
        self.sources()
            .get_source(pb::GetSourceRequest {
                plugin: plugin.into(),
                source_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn action(
        &self,
        plugin: &str,
        id: &str,
        action: &str,
        dry_run: bool,
        params: serde_json::Value,
    ) -> Result<pb::ActionResult, tonic::Status> {
        let params = params
            .as_object()
            .map(catalog::transport::grpc::convert::to_struct);
        self.sources()
            .execute_source_action(pb::ExecuteSourceActionRequest {
                plugin: plugin.into(),
                source_id: id.into(),
                action: action.into(),
                dry_run,
                params,
                ..Default::default()
            })
            .await
            .map(|r| r.into_inner())
    }
}

/// Applies, over the API, a `model` source `id` of `count` generated
/// entries named `bulk-00000`, `bulk-00001`...
pub async fn apply_bulk_models(s: &TestServer, id: &str, count: usize) {
    let file = s.dir.path().join("samples").join(format!("{id}.yaml"));
    let mut yaml = String::from("models:\n");
    for i in 0..count {
        yaml.push_str(&format!(
            "  - name: bulk-{i:05}\n    description: model {i}\n"
        ));
    }
    std::fs::write(&file, yaml).unwrap();
    let source = serde_json::json!({"source": {"id": id, "name": "Bulk", "type": "yaml",
        "properties": {"yamlCatalogPath": file.display().to_string()}}});
    s.action("model", id, "apply", false, source).await.unwrap();
}

pub async fn start_server(database_url: &str, options: &Options) -> RunningServer {
    let mut args = vec![
        "catalog-server".to_string(),
        "--database-url".into(),
        database_url.into(),
        "--reconcile-seconds".into(),
        options.reconcile_seconds.to_string(),
        "--db-max-connections".into(),
        "5".into(),
    ];
    for source in &options.sources {
        args.push("--sources".into());
        args.push(source.display().to_string());
    }
    if let Some(dir) = &options.plugins_dir {
        args.push("--plugins-dir".into());
        args.push(dir.display().to_string());
    }
    if let Some(secret) = &options.jwt_secret {
        args.push("--jwt-secret".into());
        args.push(secret.clone());
    }
    args.extend(options.extra_args.iter().cloned());
    let config = ServerConfig::parse_from(args);
    let bind = if options.listen_any {
        "0.0.0.0:0"
    } else {
        "127.0.0.1:0"
    };
    let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
    start(config, Some(listener)).await.expect("server starts")
}

/// The ErrorInfo reason of a failed call.
pub fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// A spec field as JSON.
pub fn spec(asset: &pb::AssetResource) -> serde_json::Value {
    serde_json::Value::Object(catalog::transport::grpc::convert::from_struct(
        asset.spec.as_ref().unwrap(),
    ))
}

/// Polls until `check` holds (up to 20 s).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A plain HTTP/1.1 response.
pub struct Http {
    pub status: u16,
    /// Header lines as sent, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Http {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The JSON body of a 200 answer.
    pub fn ok(&self) -> serde_json::Value {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/json"));
        self.json()
    }
}

/// One request over a fresh TCP connection (HTTP/1.1, closed after).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Http {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", addr.port()))
        .await
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|l| l.split(' ').next())
        .and_then(|code| code.parse().ok())
        .expect("an HTTP/1.1 status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Http {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        let start = line + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
}

/// A plain HTTP/1.1 response with a text body.
pub struct HttpResponse {
    pub status: u16,
    /// Header lines as sent, names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A GET over a fresh TCP connection, as a scraper or curl sends it: no
/// token unless `headers` carries one.
pub async fn http_get(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpResponse {
    let answer = http(addr, "GET", path, headers, b"").await;
    HttpResponse {
        status: answer.status,
        headers: answer.headers,
        body: String::from_utf8(answer.body).expect("a text body"),
    }
}
