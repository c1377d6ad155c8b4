-- Governance overlay (spec 08 §1.2). Timestamps are RFC 3339 UTC text with
-- fixed width (they sort as text) and ids are lowercase UUID text, as in
-- the SQLite schema, so both back ends decode the same way through sqlx's
-- Any driver; JSON columns are JSONB; flags are 0/1 integers.

-- One row per governed asset. The metadata document lives in `metadata`;
-- the fields that lists filter on are copied into indexed columns in the
-- same statement that writes the document.
CREATE TABLE IF NOT EXISTS asset_governance (
    asset_uid                     TEXT    NOT NULL PRIMARY KEY,
    plugin                        TEXT    NOT NULL,
    kind                          TEXT    NOT NULL,
    name                          TEXT    NOT NULL,
    source_id                     TEXT    NULL,
    metadata                      JSONB    NOT NULL DEFAULT '{}',
    owner_principal               TEXT    NULL,
    team_name                     TEXT    NULL,
    risk_level                    TEXT    NULL CHECK (risk_level IS NULL OR risk_level IN ('low', 'medium', 'high', 'critical')),
    sla_tier                      TEXT    NULL CHECK (sla_tier IS NULL OR sla_tier IN ('gold', 'silver', 'bronze', 'none')),
    lifecycle_state               TEXT    NOT NULL DEFAULT 'draft' CHECK (lifecycle_state IN ('draft', 'approved', 'deprecated', 'archived')),
    lifecycle_reason              TEXT    NULL,
    lifecycle_changed_by          TEXT    NULL,
    lifecycle_changed_at          TEXT    NULL,
    lifecycle_previous_state      TEXT    NULL,
    lifecycle_replacement_ref     JSONB    NULL,
    lifecycle_approval_request_id TEXT    NULL,
    approved_content_digest       TEXT    NULL,
    current_content_digest        TEXT    NULL,
    current_revision_id           TEXT    NULL,
    current_provenance            JSONB    NULL,
    source_missing_since          TEXT    NULL,
    resource_version              BIGINT NOT NULL DEFAULT 1,
    created_at                    TEXT    NOT NULL,
    updated_at                    TEXT    NOT NULL,
    updated_by                    TEXT    NULL,
    UNIQUE (plugin, kind, name)
);
CREATE INDEX IF NOT EXISTS asset_governance_state ON asset_governance (plugin, kind, lifecycle_state);
CREATE INDEX IF NOT EXISTS asset_governance_owner ON asset_governance (owner_principal);
CREATE INDEX IF NOT EXISTS asset_governance_team ON asset_governance (team_name);
CREATE INDEX IF NOT EXISTS asset_governance_risk ON asset_governance (risk_level);

-- Inverted index of compliance tags, kept in step with asset_governance in
-- the same transaction.
CREATE TABLE IF NOT EXISTS asset_compliance_tags (
    asset_uid TEXT NOT NULL,
    tag       TEXT NOT NULL,
    PRIMARY KEY (asset_uid, tag)
);
CREATE INDEX IF NOT EXISTS asset_compliance_tags_tag ON asset_compliance_tags (tag, asset_uid);

-- Immutable snapshots; only lifecycle_* columns may change.
CREATE TABLE IF NOT EXISTS asset_versions (
    version_id                    TEXT    NOT NULL PRIMARY KEY,
    asset_uid                     TEXT    NOT NULL REFERENCES asset_governance (asset_uid),
    plugin                        TEXT    NOT NULL,
    kind                          TEXT    NOT NULL,
    name                          TEXT    NOT NULL,
    version_label                 TEXT    NOT NULL,
    sequence                      BIGINT NOT NULL,
    trigger                       TEXT    NOT NULL CHECK (trigger IN ('manual', 'source-change', 'initial-discovery', 'backfill')),
    record                        JSONB    NOT NULL,
    governance_snapshot           JSONB    NOT NULL DEFAULT '{}',
    references_snapshot           JSONB    NOT NULL DEFAULT '[]',
    content_digest                TEXT    NOT NULL,
    source_id                     TEXT    NULL,
    source_revision_ref           TEXT    NULL,
    provenance                    JSONB    NOT NULL DEFAULT '{}',
    lifecycle_state               TEXT    NOT NULL CHECK (lifecycle_state IN ('draft', 'approved', 'deprecated', 'archived')),
    lifecycle_reason              TEXT    NULL,
    lifecycle_changed_by          TEXT    NULL,
    lifecycle_changed_at          TEXT    NULL,
    lifecycle_previous_state      TEXT    NULL,
    lifecycle_approval_request_id TEXT    NULL,
    created_at                    TEXT    NOT NULL,
    created_by                    TEXT    NOT NULL,
    UNIQUE (asset_uid, version_label),
    UNIQUE (asset_uid, sequence)
);
CREATE INDEX IF NOT EXISTS asset_versions_digest ON asset_versions (asset_uid, content_digest);

CREATE OR REPLACE FUNCTION asset_versions_guard() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'asset_versions rows are never deleted';
    END IF;
    IF (NEW.version_id, NEW.asset_uid, NEW.plugin, NEW.kind, NEW.name, NEW.version_label, NEW.sequence,
        NEW.trigger, NEW.record, NEW.governance_snapshot, NEW.references_snapshot, NEW.content_digest,
        NEW.source_id, NEW.source_revision_ref, NEW.provenance, NEW.created_at, NEW.created_by)
       IS DISTINCT FROM
       (OLD.version_id, OLD.asset_uid, OLD.plugin, OLD.kind, OLD.name, OLD.version_label, OLD.sequence,
        OLD.trigger, OLD.record, OLD.governance_snapshot, OLD.references_snapshot, OLD.content_digest,
        OLD.source_id, OLD.source_revision_ref, OLD.provenance, OLD.created_at, OLD.created_by) THEN
        RAISE EXCEPTION 'asset_versions rows are immutable except their lifecycle columns';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS asset_versions_guard ON asset_versions;
CREATE TRIGGER asset_versions_guard BEFORE UPDATE OR DELETE ON asset_versions
    FOR EACH ROW EXECUTE FUNCTION asset_versions_guard();

-- Refuses every change to an append-only table.
CREATE OR REPLACE FUNCTION append_only_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE IF NOT EXISTS version_aliases (
    asset_uid  TEXT NOT NULL,
    alias      TEXT NOT NULL,
    version_id TEXT NOT NULL REFERENCES asset_versions (version_id),
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (asset_uid, alias)
);

CREATE TABLE IF NOT EXISTS env_bindings (
    plugin              TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    environment         TEXT    NOT NULL,
    asset_uid           TEXT    NOT NULL,
    version_id          TEXT    NOT NULL REFERENCES asset_versions (version_id),
    previous_version_id TEXT    NULL,
    bound_at            TEXT    NOT NULL,
    bound_by            TEXT    NOT NULL,
    reason              TEXT    NULL,
    approval_request_id TEXT    NULL,
    resource_version    BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (plugin, kind, name, environment)
);
CREATE INDEX IF NOT EXISTS env_bindings_version ON env_bindings (version_id);
CREATE INDEX IF NOT EXISTS env_bindings_asset ON env_bindings (asset_uid);

-- Append-only history of binding changes (rollback eligibility).
CREATE TABLE IF NOT EXISTS env_binding_history (
    id                  TEXT NOT NULL PRIMARY KEY,
    asset_uid           TEXT NOT NULL,
    plugin              TEXT NOT NULL,
    kind                TEXT NOT NULL,
    name                TEXT NOT NULL,
    environment         TEXT NOT NULL,
    version_id          TEXT NULL,
    previous_version_id TEXT NULL,
    action              TEXT NOT NULL,
    actor               TEXT NOT NULL,
    at                  TEXT NOT NULL,
    audit_event_id      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS env_binding_history_env ON env_binding_history (asset_uid, environment, version_id);
DROP TRIGGER IF EXISTS env_binding_history_append_only ON env_binding_history;
CREATE TRIGGER env_binding_history_append_only BEFORE UPDATE OR DELETE ON env_binding_history
    FOR EACH ROW EXECUTE FUNCTION append_only_guard();

CREATE TABLE IF NOT EXISTS approval_requests (
    request_id               TEXT    NOT NULL PRIMARY KEY,
    asset_uid                TEXT    NOT NULL,
    plugin                   TEXT    NOT NULL,
    kind                     TEXT    NOT NULL,
    name                     TEXT    NOT NULL,
    version_id               TEXT    NULL,
    action                   TEXT    NOT NULL,
    params                   JSONB    NOT NULL DEFAULT '{}',
    dedupe_key               TEXT    NOT NULL,
    status                   TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'expired', 'cancelled')),
    reason                   TEXT    NULL,
    requirements             JSONB    NOT NULL,
    deny_on_first_reject     BIGINT NOT NULL DEFAULT 1,
    policy_rule              TEXT    NULL,
    requested_by             TEXT    NOT NULL,
    requested_by_roles       JSONB    NOT NULL DEFAULT '[]',
    created_at               TEXT    NOT NULL,
    updated_at               TEXT    NOT NULL,
    expires_at               TEXT    NOT NULL,
    resolved_at              TEXT    NULL,
    resolved_by              TEXT    NULL,
    cancel_reason            TEXT    NULL,
    execution_status         TEXT    NULL CHECK (execution_status IS NULL OR execution_status IN ('succeeded', 'failed')),
    execution_result         JSONB    NULL,
    execution_error          JSONB    NULL,
    executed_at              TEXT    NULL,
    execution_audit_event_id TEXT    NULL,
    correlation_id           TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS approval_requests_pending_dedupe ON approval_requests (dedupe_key) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS approval_requests_status ON approval_requests (status, created_at);
CREATE INDEX IF NOT EXISTS approval_requests_asset ON approval_requests (asset_uid, status);
CREATE INDEX IF NOT EXISTS approval_requests_requester ON approval_requests (requested_by);
CREATE INDEX IF NOT EXISTS approval_requests_expiry ON approval_requests (expires_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS approval_decisions (
    decision_id          TEXT NOT NULL PRIMARY KEY,
    request_id           TEXT NOT NULL REFERENCES approval_requests (request_id),
    approver             TEXT NOT NULL,
    approver_roles       JSONB NOT NULL DEFAULT '[]',
    decision             TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    comment              TEXT NULL,
    counted_requirements JSONB NOT NULL DEFAULT '[]',
    decided_at           TEXT NOT NULL,
    correlation_id       TEXT NOT NULL,
    UNIQUE (request_id, approver)
);
DROP TRIGGER IF EXISTS approval_decisions_insert_only ON approval_decisions;
CREATE TRIGGER approval_decisions_insert_only BEFORE UPDATE OR DELETE ON approval_decisions
    FOR EACH ROW EXECUTE FUNCTION append_only_guard();

-- Append-only, hash-chained audit trail (spec 06 §3).
CREATE TABLE IF NOT EXISTS audit_events (
    event_id            TEXT    NOT NULL PRIMARY KEY,
    occurred_at         TEXT    NOT NULL,
    actor               TEXT    NOT NULL,
    actor_roles         JSONB    NOT NULL DEFAULT '[]',
    action              TEXT    NOT NULL,
    asset_uid           TEXT    NULL,
    plugin              TEXT    NULL,
    kind                TEXT    NULL,
    name                TEXT    NULL,
    version_id          TEXT    NULL,
    environment         TEXT    NULL,
    outcome             TEXT    NOT NULL CHECK (outcome IN ('success', 'denied', 'failed', 'pending-approval')),
    reason              TEXT    NULL,
    reason_code         TEXT    NULL,
    diff                JSONB    NOT NULL DEFAULT '{}',
    approval_request_id TEXT    NULL,
    approvals           JSONB    NULL,
    policy_rule         TEXT    NULL,
    correlation_id      TEXT    NOT NULL,
    action_run_id       TEXT    NULL,
    details             JSONB    NOT NULL DEFAULT '{}',
    sequence            BIGINT NOT NULL UNIQUE,
    prev_hash           TEXT    NOT NULL,
    hash                TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_events_time ON audit_events (occurred_at DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS audit_events_asset ON audit_events (asset_uid, occurred_at DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS audit_events_actor ON audit_events (actor);
CREATE INDEX IF NOT EXISTS audit_events_action ON audit_events (action);
CREATE INDEX IF NOT EXISTS audit_events_request ON audit_events (approval_request_id);
CREATE INDEX IF NOT EXISTS audit_events_correlation ON audit_events (correlation_id);

-- Only the retention job may delete events, and only while its guard row
-- exists inside its own transaction.
CREATE TABLE IF NOT EXISTS audit_purge_guard (
    purge_id TEXT NOT NULL PRIMARY KEY
);
DROP TRIGGER IF EXISTS audit_events_no_update ON audit_events;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION append_only_guard();
CREATE OR REPLACE FUNCTION audit_events_delete_guard() RETURNS trigger AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_purge_guard) THEN
        RAISE EXCEPTION 'audit_events is append-only';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_events_guarded_delete ON audit_events;
CREATE TRIGGER audit_events_guarded_delete BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_delete_guard();

-- Head of the hash chain: every audit insert reads and advances it in the
-- same transaction, so replicas sharing the database build one chain.
CREATE TABLE IF NOT EXISTS audit_chain_head (
    id       BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    sequence BIGINT NOT NULL,
    hash     TEXT    NOT NULL
);
INSERT INTO audit_chain_head (id, sequence, hash)
VALUES (1, 0, 'sha256:0000000000000000000000000000000000000000000000000000000000000000')
ON CONFLICT (id) DO NOTHING;

-- Bumped by every governance write, so that replicas sharing the database
-- can tell their cached asset views (which show lifecycle and governance)
-- are stale.
CREATE TABLE IF NOT EXISTS governance_generation (
    id    BIGINT NOT NULL PRIMARY KEY CHECK (id = 1),
    value BIGINT  NOT NULL
);
INSERT INTO governance_generation (id, value) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
