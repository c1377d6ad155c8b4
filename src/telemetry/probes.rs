//! Liveness and readiness (spec 12 §3): `/livez` and `/healthz` say the
//! process is alive and check nothing else; `/readyz` says whether the
//! server should get traffic, with the state of each component. gRPC
//! health follows the same readiness (the server's sync loop flips it).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{json, Value};

use crate::storage::Store;

/// What the first load found.
#[derive(Debug, Clone, Copy)]
pub struct InitialLoad {
    /// Enabled sources.
    pub total: usize,
    /// Of which failed their first sync.
    pub failed: usize,
}

/// Shared readiness state.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    started: Instant,
    store: Store,
    initial: OnceLock<InitialLoad>,
    database_ok: AtomicBool,
    discovery: AtomicU8,
}

/// States of the first load's discovery pass, as `/readyz` names them.
const DISCOVERY_RUNNING: u8 = 0;
const DISCOVERY_FAILED: u8 = 1;
const DISCOVERY_DONE: u8 = 2;

impl Readiness {
    /// Not ready until [`Readiness::initial_load_done`].
    pub fn new(store: Store) -> Readiness {
        Readiness {
            inner: Arc::new(Inner {
                started: Instant::now(),
                store,
                initial: OnceLock::new(),
                database_ok: AtomicBool::new(true),
                discovery: AtomicU8::new(DISCOVERY_RUNNING),
            }),
        }
    }

    /// The first sync of every source and the backfill of the records
    /// stored before this start are done.
    pub fn initial_load_done(&self, load: InitialLoad) {
        let _ = self.inner.initial.set(load);
    }

    /// The overlay rows, first versions and `governance.create` events of
    /// what the initial sync discovered are written. That runs after the
    /// server is ready (issue 2's load target), so it is reported on its
    /// own instead of holding readiness back.
    pub fn discovery_done(&self) {
        self.inner
            .discovery
            .store(DISCOVERY_DONE, Ordering::Release);
    }

    /// The last attempt at that pass failed; another one is scheduled.
    pub fn discovery_failed(&self) {
        self.inner
            .discovery
            .store(DISCOVERY_FAILED, Ordering::Release);
    }

    fn discovery(&self) -> &'static str {
        match self.inner.discovery.load(Ordering::Acquire) {
            DISCOVERY_DONE => "done",
            DISCOVERY_FAILED => "failed",
            _ => "running",
        }
    }

    /// Seconds since start.
    pub fn uptime_seconds(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    /// Pings the database; returns whether readiness changed.
    pub async fn check_database(&self) -> bool {
        let ok = self.inner.store.ping().await;
        self.inner.database_ok.swap(ok, Ordering::AcqRel) != ok
    }

    /// Ready: the database answers and the first load is done.
    pub fn is_ready(&self) -> bool {
        self.inner.database_ok.load(Ordering::Acquire) && self.inner.initial.get().is_some()
    }

    /// The `/readyz` document (after a fresh database check).
    pub async fn report(&self) -> (bool, Value) {
        self.check_database().await;
        let database_ok = self.inner.database_ok.load(Ordering::Acquire);
        let migrations = if database_ok {
            self.inner.store.applied_migrations().await.ok()
        } else {
            None
        };
        let initial = self.inner.initial.get().copied();
        let initial_load = match initial {
            None => json!({"status": "pending"}),
            Some(l) => json!({
                "status": if l.failed == 0 { "ok" } else { "degraded" },
                "sources": {"total": l.total, "loaded": l.total - l.failed, "failed": l.failed},
            }),
        };
        let ready = self.is_ready();
        let body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "components": {
                "database": if database_ok { json!({"status": "ok"}) } else { json!({"status": "error", "message": "the database does not answer"}) },
                "migrations": match migrations {
                    Some(applied) => json!({"status": "ok", "applied": applied}),
                    None => json!({"status": "error"}),
                },
                "initial_load": initial_load,
                "governance": {
                    "status": "ok",
                    "governanceConfig": "loaded",
                    "approvalPolicies": "loaded",
                    "backfill": if initial.is_some() { "done" } else { "running" },
                    "discovery": self.discovery(),
                },
            },
        });
        (ready, body)
    }
}
