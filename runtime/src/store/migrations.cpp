#include "store/migrations.hpp"

#include "common/clock.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace patchbay::store {

namespace {

// Version 1: who may do what. Users are accounts; a membership gives one a role in a team.
// Tokens belong to a membership, so each call is scoped to exactly one team.
constexpr std::string_view kV1Sqlite = R"sql(
CREATE TABLE teams (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  display_name TEXT NOT NULL DEFAULT '',
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at TEXT NOT NULL
);
CREATE TABLE memberships (
  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  created_at TEXT NOT NULL,
  PRIMARY KEY (team_id, user_id)
);
CREATE TABLE api_tokens (
  id INTEGER PRIMARY KEY,
  team_id INTEGER NOT NULL,
  user_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  hint TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT,
  FOREIGN KEY (team_id, user_id) REFERENCES memberships(team_id, user_id) ON DELETE CASCADE
);
CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY,
  team_id INTEGER REFERENCES teams(id) ON DELETE CASCADE,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_by_team ON audit_events(team_id, id);
)sql";

// Version 2: integrations installed per team, their connections, sealed secrets and key checks.
constexpr std::string_view kV2Sqlite = R"sql(
CREATE TABLE installations (
  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  integration TEXT NOT NULL,
  installed_by INTEGER REFERENCES users(id),
  installed_at TEXT NOT NULL,
  PRIMARY KEY (team_id, integration)
);
CREATE TABLE connections (
  id TEXT PRIMARY KEY,
  team_id INTEGER NOT NULL,
  integration TEXT NOT NULL,
  name TEXT NOT NULL,
  auth_type TEXT NOT NULL,
  base_url TEXT NOT NULL DEFAULT '',
  settings TEXT NOT NULL DEFAULT '{}',
  created_by INTEGER NOT NULL REFERENCES users(id),
  owner_id INTEGER NOT NULL REFERENCES users(id),
  restricted INTEGER NOT NULL DEFAULT 0 CHECK (restricted IN (0, 1)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  FOREIGN KEY (team_id, integration) REFERENCES installations(team_id, integration),
  UNIQUE (team_id, integration, name)
);
CREATE TABLE connection_users (
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  PRIMARY KEY (connection_id, user_id)
);
CREATE TABLE connection_secrets (
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  field TEXT NOT NULL,
  key_id TEXT NOT NULL,
  sealed BLOB NOT NULL,
  PRIMARY KEY (connection_id, field)
);
CREATE INDEX connection_secrets_by_key ON connection_secrets(key_id);
CREATE TABLE connection_usage (
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  workflow_id TEXT NOT NULL,
  last_used_at TEXT NOT NULL,
  uses INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (connection_id, workflow_id)
);
CREATE TABLE key_checks (
  key_id TEXT PRIMARY KEY,
  sealed BLOB NOT NULL,
  created_at TEXT NOT NULL
);
)sql";

// OAuth2: the token state of each OAuth2 connection (the tokens themselves are sealed in
// connection_secrets as access_token and refresh_token, so key rotation covers them), and the
// authorizations in progress (state -> PKCE verifier, single use, short-lived).
constexpr const char* kV3Sqlite = R"sql(
CREATE TABLE oauth_tokens (
  connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  status_message TEXT NOT NULL DEFAULT '',
  expires_at INTEGER,
  generation INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until INTEGER,
  updated_at TEXT NOT NULL
);
CREATE TABLE oauth_authorizations (
  state_hash TEXT PRIMARY KEY,
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  team_id INTEGER NOT NULL,
  started_by TEXT NOT NULL,
  verifier_key_id TEXT NOT NULL,
  verifier BLOB NOT NULL,
  redirect_uri TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
)sql";

// Triggers: subscriptions to a connection's triggers, the delivery ids seen (deduplication for 72
// hours), the event log the engine reads, and where a team's events are pushed (its signing
// secret sealed like a connection secret; the vault rotates it too). A subscription's signing secret is sealed as a
// secret of its connection (field "subscription:<id>"), so key rotation and pruning cover it.
// Events are numbered in the order they were stored; `lease_until` hides an event handed to the
// engine until it is acknowledged or the lease runs out.
constexpr const char* kV4Sqlite = R"sql(
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  integration TEXT NOT NULL,
  trigger_name TEXT NOT NULL,
  kind TEXT NOT NULL,
  params TEXT NOT NULL DEFAULT '{}',
  schedule TEXT,
  status TEXT NOT NULL CHECK (status IN ('active', 'paused')),
  unsigned_ok INTEGER NOT NULL DEFAULT 0 CHECK (unsigned_ok IN (0, 1)),
  hook_hash TEXT UNIQUE,
  cursor TEXT,
  next_run_at INTEGER,
  running_until INTEGER,
  failures INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  remote TEXT,
  reconciled_at INTEGER,
  created_by INTEGER NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX subscriptions_by_team ON subscriptions(team_id, created_at);
CREATE INDEX subscriptions_due ON subscriptions(kind, status, next_run_at);
CREATE TABLE webhook_deliveries (
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  delivery_id TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, delivery_id)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries(received_at);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  source_id TEXT,
  data TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_until INTEGER,
  acked_at INTEGER,
  dead_at INTEGER,
  last_error TEXT,
  UNIQUE (subscription_id, source_id)
);
CREATE TABLE delivery_targets (
  team_id INTEGER PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  key_id TEXT NOT NULL,
  sealed BLOB NOT NULL,
  created_by INTEGER NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE INDEX events_pending ON events(team_id, acked_at, seq);
CREATE INDEX events_by_subscription ON events(subscription_id, seq);
)sql";

// The platform's organizations per team (organization mapping builds on them).
constexpr const char* kV5Sqlite = R"sql(
CREATE TABLE organizations (
  team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  id TEXT NOT NULL,
  name TEXT NOT NULL,
  parent_id TEXT,
  domain TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (team_id, id)
);
CREATE INDEX organizations_by_parent ON organizations(team_id, parent_id);
)sql";

// Organization mapping: each connection's remote organizations (the options a refresh fetched),
// the mappings saved and suggested per platform organization, and which connection serves an
// organization (an override per organization, else the installation's default connection).
constexpr const char* kV6Sqlite = R"sql(
CREATE TABLE remote_organizations (
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  remote_id TEXT NOT NULL,
  name TEXT NOT NULL,
  domain TEXT,
  position INTEGER NOT NULL,
  PRIMARY KEY (connection_id, remote_id)
);
CREATE TABLE remote_refreshes (
  connection_id TEXT PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
  fetched_at TEXT,
  fetched_by TEXT,
  item_count INTEGER NOT NULL DEFAULT 0,
  pages INTEGER NOT NULL DEFAULT 0,
  complete INTEGER NOT NULL DEFAULT 1,
  last_attempt_at TEXT,
  last_error TEXT
);
CREATE TABLE organization_mappings (
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  team_id INTEGER NOT NULL,
  organization_id TEXT NOT NULL,
  remote_id TEXT,
  remote_name TEXT,
  saved_by TEXT,
  saved_at TEXT,
  stale INTEGER NOT NULL DEFAULT 0,
  suggested_id TEXT,
  suggested_name TEXT,
  confidence_milli INTEGER,
  suggested_at TEXT,
  PRIMARY KEY (connection_id, organization_id),
  FOREIGN KEY (team_id, organization_id) REFERENCES organizations(team_id, id) ON DELETE CASCADE
);
CREATE INDEX organization_mappings_by_org ON organization_mappings(team_id, organization_id);
CREATE TABLE organization_connections (
  team_id INTEGER NOT NULL,
  organization_id TEXT NOT NULL,
  integration TEXT NOT NULL,
  connection_id TEXT NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  set_by TEXT NOT NULL,
  set_at TEXT NOT NULL,
  PRIMARY KEY (team_id, organization_id, integration),
  FOREIGN KEY (team_id, organization_id) REFERENCES organizations(team_id, id) ON DELETE CASCADE
);
ALTER TABLE installations ADD COLUMN default_connection TEXT REFERENCES connections(id) ON DELETE SET NULL;
)sql";

}  // namespace

const std::vector<Migration>& migrations() {
    static const std::vector<Migration> all = {
        {1, "teams, users, memberships, tokens, audit", kV1Sqlite},
        {2, "installations, connections, secrets", kV2Sqlite},
        {3, "oauth2 token state and authorizations", kV3Sqlite},
        {4, "trigger subscriptions, webhook deliveries, events", kV4Sqlite},
        {5, "platform organizations", kV5Sqlite},
        {6, "organization mapping", kV6Sqlite},
    };
    return all;
}

int latest_schema_version() { return migrations().back().version; }

std::vector<int> migrate(Database& db, int target) {
    if (target < 0) target = latest_schema_version();
    int current = db.schema_version();
    if (current > latest_schema_version())
        throw StoreError("the database is at schema version " + std::to_string(current) + ", newer than this Patchbay knows (" +
                         std::to_string(latest_schema_version()) + "); run a newer Patchbay or restore a backup");
    std::vector<int> applied;
    for (const auto& m : migrations()) {
        if (m.version <= current || m.version > target) continue;
        db.write([&](Tx& tx) {
            tx.exec_script(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)");
            // Another process may have applied it between our check and this transaction.
            if (tx.query_one("SELECT 1 FROM schema_migrations WHERE version = ?", {int64_t{m.version}})) return;
            if (db.engine() != "sqlite") throw StoreError("no migration for engine " + std::string(db.engine()));
            tx.exec_script(m.sqlite);
            tx.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    {int64_t{m.version}, std::string(m.name), iso_now()});
        });
        applied.push_back(m.version);
    }
    return applied;
}

}  // namespace patchbay::store
