//! `catalog-bench`: generates a synthetic catalog, starts a real
//! `catalog-server` on it (SQLite), and drives GetAsset, ListAssets and a
//! trivial unary RPC (grpc.health.v1.Health/Check) over gRPC on loopback at
//! several concurrency levels. Every figure is reported next to its ratio
//! to the trivial RPC measured in the same run, so machines of different
//! speed can be compared. The same GetAsset and ListAssets load then runs
//! over the HTTP/JSON API (HTTP/1.1 keep-alive, one connection per client,
//! JSON parsed by the client) and is reported as a ratio to gRPC.
//!
//! Run: `cargo build --release --bin catalog-server -p catalog && cargo run --release -p catalog-bench -- --assets 100000`

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use catalog::proto::catalog::v1alpha1 as pb;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// Assets to generate, spread over the kinds.
    #[arg(long, default_value_t = 10_000)]
    assets: usize,
    /// Server binary.
    #[arg(long, default_value = "target/release/catalog-server")]
    server: PathBuf,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Server log filter (CATALOG_LOG).
    #[arg(long, default_value = "warn")]
    log: String,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Stop after the load (time to SERVING, RSS and database size).
    #[arg(long)]
    load_only: bool,
    /// Work in this (new or empty) folder and keep it, instead of a
    /// temporary one, to inspect the database afterwards.
    #[arg(long)]
    keep_in: Option<PathBuf>,
}

/// Kinds used by the generator: (plugin key, plugin, data key, fields).
/// Kind and name prefix of each generated plugin, for GetAsset.
const ASSET_KINDS: &[(&str, &str, &str)] = &[
    ("agents", "Agent", "agent-"),
    ("skills", "Skill", "skill-"),
    ("model", "CatalogModel", "org/model-"),
    ("mcp", "McpServer", "mcp-"),
];

const KINDS: &[(&str, &str, &str)] = &[
    ("agents", "agents", "agents"),
    ("skills", "skills", "skills"),
    ("models", "model", "models"),
    ("mcp", "mcp", "mcpservers"),
];

fn entry(plugin: &str, i: usize) -> String {
    match plugin {
        "agents" => format!(
            "  - name: agent-{i:06}\n    version: '1.{}'\n    description: Synthetic agent {i} for load tests\n    agentType: {}\n    instructions: Answer questions about item {i}.\n    labels: {{team: team-{}, tier: {}}}\n    tools:\n      - {{skillRef: skill-{:06}, required: true}}\n    modelConfig: {{preferredModelRef: org/model-{:06}, temperature: 0.2}}\n    license: Apache-2.0\n",
            i % 7,
            ["router", "planner", "executor", "conversational"][i % 4],
            i % 20,
            ["gold", "silver", "bronze"][i % 3],
            i,
            i
        ),
        "skills" => format!(
            "  - name: skill-{i:06}\n    version: '1.0'\n    description: Synthetic skill {i}\n    skillType: mcp_tool\n    inputSchema: {{type: object, properties: {{q: {{type: string}}}}}}\n    timeoutSeconds: {}\n    execution: {{executorType: mcp_tool, mcpServerRef: mcp-{:06}, toolName: search}}\n    safety: {{riskLevel: {}}}\n",
            10 + i % 50,
            i,
            ["low", "medium", "high"][i % 3]
        ),
        "model" => format!(
            "  - name: org/model-{i:06}\n    provider: Org\n    description: Synthetic model {i}\n    license: apache-2.0\n    tasks: [text-generation]\n    createTimeSinceEpoch: '{}'\n    lastUpdateTimeSinceEpoch: '{}'\n",
            1_700_000_000_000u64 + i as u64,
            1_710_000_000_000u64 + i as u64
        ),
        _ => format!("  - name: mcp-{i:06}\n    description: Synthetic MCP server {i}\n    deploymentMode: remote\n    endpoint: https://mcp{i}.example.com\n    toolCount: {}\n", i % 10),
    }
}

/// Writes the sources file and one data file per kind; returns the sources file.
fn generate(dir: &Path, total: usize) -> PathBuf {
    let per_kind = total / KINDS.len();
    let mut sources =
        String::from("apiVersion: catalog/v1alpha1\nkind: CatalogSources\ncatalogs:\n");
    for (key, plugin, data_key) in KINDS {
        let mut text = format!("{data_key}:\n");
        for i in 0..per_kind {
            text.push_str(&entry(plugin, i));
        }
        std::fs::write(dir.join(format!("{plugin}.yaml")), text).unwrap();
        let _ = writeln!(sources, "  {key}:\n    sources:\n      - {{id: bench-{plugin}, name: Bench, type: yaml, properties: {{yamlCatalogPath: {plugin}.yaml}}}}");
    }
    let path = dir.join("sources.yaml");
    std::fs::write(&path, sources).unwrap();
    path
}

/// Size of the SQLite files (database and write-ahead log) under `dir`.
fn database_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("bench.db"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Where the catalog and database live: deleted at exit, or kept.
enum WorkDir {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl From<PathBuf> for WorkDir {
    fn from(path: PathBuf) -> Self {
        WorkDir::Kept(path)
    }
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            WorkDir::Temporary(dir) => dir.path(),
            WorkDir::Kept(path) => path,
        }
    }
}

/// User plus system CPU time of a process so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    ticks as f64 / 100.0
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `authorization` value of the server's development viewer token, read
/// once the server is up; catalog reads need a token like any client's.
static BEARER: OnceLock<tonic::metadata::AsciiMetadataValue> = OnceLock::new();

/// The server's process id, for the CPU time each measurement costs it.
static SERVER_PID: OnceLock<u32> = OnceLock::new();

fn authed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let bearer = BEARER.get().expect("token loaded before the first call");
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

async fn get_asset(channel: Channel, kind: usize, item: usize) {
    let (plugin, kind, prefix) = ASSET_KINDS[kind];
    pb::asset_service_client::AssetServiceClient::new(channel)
        .get_asset(authed(pb::GetAssetRequest {
            plugin: plugin.into(),
            kind: kind.into(),
            name: format!("{prefix}{item:06}"),
        }))
        .await
        .unwrap();
}

/// The encoded size of one GetAsset answer per kind (what the server's
/// answer cache holds per asset, before its bookkeeping).
async fn answer_sizes(channel: Channel) -> String {
    let mut sizes = Vec::new();
    for (plugin, kind, prefix) in ASSET_KINDS {
        let answer = pb::asset_service_client::AssetServiceClient::new(channel.clone())
            .get_asset(authed(pb::GetAssetRequest {
                plugin: (*plugin).into(),
                kind: (*kind).into(),
                name: format!("{prefix}{:06}", 0),
            }))
            .await
            .unwrap()
            .into_inner();
        sizes.push(format!("{kind} {} B", prost::Message::encoded_len(&answer)));
    }
    sizes.join(", ")
}

/// Reads every agent once, 64 at a time, so that "repeated read" measures
/// a warm server.
async fn warm_up(channels: &[Channel], per_kind: usize, kinds: std::ops::Range<usize>) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..64 {
        let channel = channels[worker % channels.len()].clone();
        let kinds = kinds.clone();
        tasks.spawn(async move {
            for kind in kinds {
                for item in (worker..per_kind).step_by(64) {
                    get_asset(channel.clone(), kind, item).await;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// A well-mixed index in `0..n` for call `i` (uniform enough for picking
/// assets, and the same in every run).
fn scatter(i: usize, n: usize) -> usize {
    let mut x = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((x ^ (x >> 31)) % n as u64) as usize
}

#[derive(Clone)]
struct Measure {
    throughput: f64,
    p50: Duration,
    p99: Duration,
    /// Server CPU (user + system) per call, in microseconds. Client and
    /// server share the machine's cores, so throughput ratios also carry
    /// the client's own cost; this one is the server's alone.
    server_us: f64,
}

/// One HTTP/1.1 keep-alive connection, used by one client at a time.
type Http1 = Arc<tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<Full<Bytes>>>>;

async fn http1(addr: &str) -> Http1 {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    Arc::new(tokio::sync::Mutex::new(sender))
}

/// GET `path` over HTTP/JSON with the bench token; the body is parsed.
async fn http_get(conn: Http1, path: String) {
    let mut sender = conn.lock().await;
    sender.ready().await.unwrap();
    let bearer = BEARER.get().expect("token loaded before the first call");
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "127.0.0.1")
        .header(hyper::header::AUTHORIZATION, bearer.as_bytes())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let _: serde_json::Value = serde_json::from_slice(&body).unwrap();
}

/// Waits until `/readyz` reports the first load's governance overlay
/// written (`components.governance.discovery = done`).
async fn wait_for_discovery(addr: &str) {
    loop {
        let body = fetch(addr, "/readyz").await;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if body["components"]["governance"]["discovery"] == "done" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The body of an unauthenticated GET on a new connection.
async fn fetch(addr: &str, path: &'static str) -> Bytes {
    let conn = http1(addr).await;
    let mut sender = conn.lock().await;
    sender.ready().await.unwrap();
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    response.into_body().collect().await.unwrap().to_bytes()
}

/// The server's read cache, from its metrics: reads served and missed,
/// answers held, and the bytes they take against their served size.
async fn read_cache(addr: &str) -> String {
    let body = fetch(addr, "/metrics").await;
    let text = String::from_utf8_lossy(&body);
    let sample = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let hits = sample("asset_read_cache_requests_total{result=\"hit\"}");
    let misses = sample("asset_read_cache_requests_total{result=\"miss\"}");
    format!(
        "{hits:.0} hits, {misses:.0} misses; {:.0} answers held ({:.0} compressed) in {:.1} MB ({:.1} MB as served)",
        sample("asset_read_cache_entries{form=\"plain\"}")
            + sample("asset_read_cache_entries{form=\"compressed\"}"),
        sample("asset_read_cache_entries{form=\"compressed\"}"),
        sample("asset_read_cache_bytes{measure=\"held\"}") / 1e6,
        sample("asset_read_cache_bytes{measure=\"answers\"}") / 1e6,
    )
}

/// The ListAssets filter of call `i` (same for both transports).
fn list_filter(i: usize) -> String {
    format!(
        "agentType = '{}' AND labels.team = 'team-{}'",
        ["router", "planner", "executor", "conversational"][i % 4],
        i % 20
    )
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn drive<C, F, Fut>(channels: &[C], concurrency: usize, seconds: u64, call: F) -> Measure
where
    C: Clone + Send + 'static,
    F: Fn(C, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let server = *SERVER_PID.get().expect("server started before measuring");
    let cpu_before = cpu_seconds(server);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let channel = channels[worker % channels.len()].clone();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker * 7919;
            while Instant::now() < deadline {
                let started = Instant::now();
                call(channel.clone(), i).await;
                latencies.push(started.elapsed());
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let server_cpu = cpu_seconds(server) - cpu_before;
    all.sort();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Measure {
        throughput: all.len() as f64 / seconds as f64,
        p50: pick(0.50),
        p99: pick(0.99),
        server_us: server_cpu * 1e6 / all.len().max(1) as f64,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let dir = match &args.keep_in {
        Some(path) => {
            std::fs::create_dir_all(path).unwrap();
            tempfile::Builder::new()
                .tempdir_in(path)
                .unwrap()
                .keep()
                .into()
        }
        None => WorkDir::Temporary(tempfile::tempdir().unwrap()),
    };
    let sources = generate(dir.path(), args.assets);
    let per_kind = args.assets / KINDS.len();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&args.server)
        .env("CATALOG_LISTEN", &addr)
        .env("CATALOG_SOURCES", &sources)
        .env(
            "CATALOG_DATABASE_URL",
            format!("sqlite://{}/bench.db", dir.path().display()),
        )
        .env("CATALOG_RECONCILE_SECONDS", "3600")
        .env("CATALOG_LOG", &args.log)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("server binary (build it with cargo build --release --bin catalog-server)");
    let pid = child.id().unwrap();
    SERVER_PID.set(pid).unwrap();
    let endpoint = format!("http://{addr}");
    let channel = loop {
        if let Ok(channel) = Channel::from_shared(endpoint.clone())
            .unwrap()
            .connect()
            .await
        {
            break channel;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(0);
        if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let load = started.elapsed();
    let (rss, peak) = (rss_kb(pid, "VmRSS:"), rss_kb(pid, "VmHWM:"));
    let serving_cpu = cpu_seconds(pid);
    // The governance overlay of the first load is written after SERVING;
    // reads are measured once it is, so they do not compete with it.
    wait_for_discovery(&addr).await;
    let discovery = started.elapsed();
    println!(
        "governance overlay of the first load written {:.1} s after start (server CPU {:.1} s, RSS {} MB)",
        discovery.as_secs_f64(),
        cpu_seconds(pid),
        rss_kb(pid, "VmRSS:") / 1024
    );
    if args.load_only {
        println!(
            "assets: {}, load to SERVING: {:.1} s (server CPU {:.1} s), RSS after load: {} MB (peak {} MB), database: {} MB",
            args.assets,
            load.as_secs_f64(),
            serving_cpu,
            rss / 1024,
            peak / 1024,
            database_bytes(dir.path()) / (1024 * 1024)
        );
        return;
    }
    // A loopback server without a configured secret writes its development
    // tokens next to its database.
    let token = std::fs::read_to_string(dir.path().join("dev-viewer.token"))
        .expect("the server wrote its development tokens");
    BEARER
        .set(format!("Bearer {}", token.trim()).parse().unwrap())
        .unwrap();
    let mut channels = Vec::new();
    for _ in 0..4 {
        channels.push(
            Channel::from_shared(endpoint.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }

    let first_reads = Arc::new(AtomicUsize::new(0));
    warm_up(&channels, per_kind, 0..1).await;
    let mut trivials = Vec::new();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "GetAsset answer sizes: {}",
        answer_sizes(channels[0].clone()).await
    );
    let _ = writeln!(report, "assets: {} ({} per kind, {} kinds), load to SERVING: {:.2} s, RSS after load: {} MB (peak {} MB)\n", per_kind * KINDS.len(), per_kind, KINDS.len(), load.as_secs_f64(), rss / 1024, peak / 1024);
    let _ = writeln!(report, "| clients | RPC | calls/s | ratio to trivial | p50 ms | p99 ms | server CPU µs/call | server cost ratio |\n|---|---|---|---|---|---|---|---|");
    let mut versus = String::from(
        "\nHTTP/JSON against gRPC (same server, same run):\n\n| clients | RPC | gRPC calls/s | HTTP/JSON calls/s | HTTP/gRPC | HTTP p50 ms | HTTP p99 ms |\n|---|---|---|---|---|---|---|\n",
    );
    for &concurrency in &args.concurrency {
        eprintln!("{concurrency} clients: trivial RPC");
        let trivial = drive(&channels, concurrency, args.seconds, |ch, _| async move {
            let _ = tonic_health::pb::health_client::HealthClient::new(ch)
                .check(tonic_health::pb::HealthCheckRequest::default())
                .await
                .unwrap();
        })
        .await;
        trivials.push((concurrency, trivial.clone()));
        // First reads: a counter shared by all clients walks every skill,
        // model and MCP server once (agents are warmed up), so each call misses the server's read cache
        // (until the catalog is exhausted; the report says when).
        eprintln!("{concurrency} clients: GetAsset first reads");
        let first = {
            let next = first_reads.clone();
            drive(&channels, concurrency, args.seconds, move |ch, _| {
                let n = next.fetch_add(1, Ordering::Relaxed);
                get_asset(ch, 1 + n % 3, n / 3 % per_kind)
            })
            .await
        };
        // Repeated reads: every agent, already read once (warm-up below).
        eprintln!("{concurrency} clients: GetAsset repeated reads");
        let get = drive(&channels, concurrency, args.seconds, move |ch, i| {
            get_asset(ch, 0, i % per_kind)
        })
        .await;
        eprintln!("{concurrency} clients: ListAssets");
        let list = drive(&channels, concurrency, args.seconds, |ch, i| async move {
            pb::asset_service_client::AssetServiceClient::new(ch)
                .list_assets(authed(pb::ListAssetsRequest {
                    plugin: "agents".into(),
                    filter_query: list_filter(i),
                    page_size: 50,
                    ..Default::default()
                }))
                .await
                .unwrap();
        })
        .await;
        // The same two loads over HTTP/JSON, one connection per client.
        let mut conns = Vec::new();
        for _ in 0..concurrency {
            conns.push(http1(&addr).await);
        }
        let http_get_asset = drive(&conns, concurrency, args.seconds, move |conn, i| {
            http_get(
                conn,
                format!(
                    "/api/catalog/v1alpha1/agents/assets/Agent/agent-{:06}",
                    i % per_kind
                ),
            )
        })
        .await;
        let http_list = drive(&conns, concurrency, args.seconds, |conn, i| {
            http_get(
                conn,
                format!(
                    "/api/catalog/v1alpha1/agents/assets?filterQuery={}&pageSize=50",
                    percent(&list_filter(i))
                ),
            )
        })
        .await;
        for (name, grpc, http) in [
            ("GetAsset, repeated read", &get, &http_get_asset),
            ("ListAssets 50, filtered", &list, &http_list),
        ] {
            let _ = writeln!(
                versus,
                "| {concurrency} | {name} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} |",
                grpc.throughput,
                http.throughput,
                http.throughput / grpc.throughput,
                http.p50.as_secs_f64() * 1000.0,
                http.p99.as_secs_f64() * 1000.0
            );
        }
        for (name, m) in [
            ("Health/Check (trivial)", &trivial),
            ("GetAsset, first read (cache miss)", &first),
            ("GetAsset, repeated read", &get),
            ("ListAssets 50, filtered", &list),
        ] {
            // Server cost ratio: the trivial RPC's server CPU per call over
            // this RPC's, i.e. the throughput ratio the server alone would
            // allow if it had the cores to itself.
            let _ = writeln!(
                report,
                "| {concurrency} | {name} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} |",
                m.throughput,
                m.throughput / trivial.throughput,
                m.p50.as_secs_f64() * 1000.0,
                m.p99.as_secs_f64() * 1000.0,
                m.server_us,
                trivial.server_us / m.server_us.max(f64::EPSILON)
            );
        }
    }
    // Steady state: once every asset has been read, any asset, picked
    // uniformly over the whole catalog (what the cache budget must hold).
    eprintln!("steady state: reading every asset once");
    warm_up(&channels, per_kind, 0..ASSET_KINDS.len()).await;
    let _ = writeln!(
        report,
        "\nSteady state, after every asset was read once: GetAsset of any asset, uniformly at random\n\n| clients | calls/s | ratio to trivial | p50 ms | p99 ms | server CPU µs/call |\n|---|---|---|---|---|---|"
    );
    let before = read_cache(&addr).await;
    for (concurrency, trivial) in &trivials {
        eprintln!("{concurrency} clients: GetAsset of any asset");
        let any = drive(&channels, *concurrency, args.seconds, move |ch, i| {
            let n = scatter(i, per_kind * ASSET_KINDS.len());
            get_asset(ch, n % ASSET_KINDS.len(), n / ASSET_KINDS.len())
        })
        .await;
        let _ = writeln!(
            report,
            "| {concurrency} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} |",
            any.throughput,
            any.throughput / trivial.throughput,
            any.p50.as_secs_f64() * 1000.0,
            any.p99.as_secs_f64() * 1000.0,
            any.server_us
        );
    }
    let _ = writeln!(
        report,
        "\nRead cache before these cells: {before}\nRead cache after them: {}",
        read_cache(&addr).await
    );
    let reads = first_reads.load(Ordering::Relaxed);
    let _ = writeln!(
        report,
        "\nfirst reads: {reads} of {} assets{}; RSS after the run: {} MB",
        per_kind * 3,
        if reads > per_kind * 3 {
            " (wrapped: later first reads were repeats)"
        } else {
            ""
        },
        rss_kb(pid, "VmRSS:") / 1024
    );
    report.push_str(&versus);
    println!("{report}");
    let _ = child.kill().await;
}
