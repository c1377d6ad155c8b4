-- Live catalog: one row per (plugin, kind, name, source). The effective row
-- of a key is the one from the source listed first; the others are shadowed.
CREATE TABLE IF NOT EXISTS catalog_records (
    plugin             TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    source_id          TEXT    NOT NULL,
    asset_uid          TEXT    NOT NULL,
    source_position    INTEGER NOT NULL DEFAULT 0,
    is_effective       BOOLEAN NOT NULL DEFAULT 0 CHECK (is_effective IN (0, 1)),
    record             TEXT    NOT NULL,
    content_digest     TEXT    NOT NULL,
    revision_id        TEXT    NOT NULL,
    provenance         TEXT    NOT NULL,
    refs               TEXT    NOT NULL DEFAULT '[]',
    display_name       TEXT    NULL,
    description        TEXT    NULL,
    validated          BOOLEAN NOT NULL DEFAULT 1 CHECK (validated IN (0, 1)),
    diagnostics        TEXT    NOT NULL DEFAULT '[]',
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    first_seen_at      TEXT    NOT NULL,
    content_changed_at TEXT    NOT NULL,
    PRIMARY KEY (plugin, kind, name, source_id)
);
CREATE INDEX IF NOT EXISTS catalog_records_live ON catalog_records (plugin, kind, is_effective, name);
CREATE INDEX IF NOT EXISTS catalog_records_by_source ON catalog_records (plugin, source_id);
CREATE INDEX IF NOT EXISTS catalog_records_uid ON catalog_records (asset_uid);

-- Outbound references of every live row, for inbound lookups.
CREATE TABLE IF NOT EXISTS catalog_links (
    from_plugin   TEXT NOT NULL,
    from_kind     TEXT NOT NULL,
    from_name     TEXT NOT NULL,
    source_id     TEXT NOT NULL,
    path          TEXT NOT NULL,
    link_type     TEXT NOT NULL,
    target_plugin TEXT NOT NULL,
    target_kind   TEXT NOT NULL,
    target_name   TEXT NOT NULL,
    PRIMARY KEY (from_plugin, from_kind, from_name, source_id, path)
);
CREATE INDEX IF NOT EXISTS catalog_links_target ON catalog_links (target_plugin, target_kind, target_name);

-- Runtime overrides and sync status of each source. Definitions created by
-- the apply action live here, never in the user's sources file.
CREATE TABLE IF NOT EXISTS source_state (
    plugin             TEXT    NOT NULL,
    source_id          TEXT    NOT NULL,
    enabled_override   BOOLEAN NULL CHECK (enabled_override IN (0, 1)),
    applied_definition TEXT    NULL CHECK (applied_definition IS NULL OR json_valid(applied_definition)),
    state              TEXT    NOT NULL DEFAULT 'pending',
    status             TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(status)),
    updated_at         TEXT    NOT NULL,
    PRIMARY KEY (plugin, source_id)
);

-- Bumped by every write that changes the live catalog, so that replicas
-- sharing the database can tell their read caches are stale.
CREATE TABLE IF NOT EXISTS catalog_generation (
    id    INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value BIGINT  NOT NULL
);
INSERT INTO catalog_generation (id, value) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
