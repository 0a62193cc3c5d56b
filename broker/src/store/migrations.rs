//! Versioned schema migrations, one list for both back ends: each entry has its SQLite and
//! its PostgreSQL text, which create the same tables, columns and indexes. The pending ones
//! run once, in order, inside one transaction; the applied version is kept in
//! `PRAGMA user_version` (SQLite) or the `schema_version` table (PostgreSQL).
//!
//! The PostgreSQL text differs where the dialects do: `BIGINT` for integers, `BYTEA` for
//! bytes, identity columns for SQLite's `AUTOINCREMENT`, an explicit `rowid` (the order of
//! insertion, which SQLite has on every table), text compared byte by byte (`COLLATE "C"`,
//! as SQLite's default), and an `instr` function, so that the store's queries are the same.
//!
//! Migration 3 also has a step in code (see `super::migrate`): in the same transaction it
//! seals every value of the sealed columns, which older brokers wrote in clear.

use super::db::Dialect;

/// One schema change, in each dialect.
pub struct Migration {
    /// For SQLite.
    pub sqlite: &'static str,
    /// For PostgreSQL.
    pub postgres: &'static str,
}

impl Migration {
    /// The text for `dialect`.
    pub fn sql(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// The migrations, oldest first. Never edit one that has shipped: add a new one.
pub const MIGRATIONS: &[Migration] = &[
    // 1: instances, operations, bindings, and the simulated director's state.
    Migration {
        sqlite: r#"
    CREATE TABLE instances (
        id                TEXT PRIMARY KEY,
        service_id        TEXT NOT NULL,
        plan_id           TEXT NOT NULL,
        organization_guid TEXT NOT NULL DEFAULT '',
        space_guid        TEXT NOT NULL DEFAULT '',
        context           TEXT NOT NULL DEFAULT 'null',
        parameters        TEXT NOT NULL DEFAULT '{}',
        maintenance_info  TEXT NOT NULL DEFAULT 'null',
        dashboard_url     TEXT,
        labels            TEXT NOT NULL DEFAULT 'null',
        configs           TEXT NOT NULL DEFAULT 'null',
        state             TEXT NOT NULL,
        deployment_name   TEXT NOT NULL,
        created_at        TEXT NOT NULL,
        updated_at        TEXT NOT NULL
    );
    CREATE TABLE operations (
        id            TEXT PRIMARY KEY,
        instance_id   TEXT NOT NULL,
        kind          TEXT NOT NULL,
        state         TEXT NOT NULL,
        stage         TEXT NOT NULL,
        task_id       INTEGER,
        errand_index  INTEGER NOT NULL DEFAULT 0,
        request       TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        error         TEXT NOT NULL DEFAULT '',
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX operations_by_instance ON operations(instance_id, created_at);
    CREATE UNIQUE INDEX one_in_flight_operation_per_instance
        ON operations(instance_id) WHERE state = 'in progress';
    CREATE TABLE bindings (
        instance_id TEXT NOT NULL,
        id          TEXT NOT NULL,
        service_id  TEXT NOT NULL,
        plan_id     TEXT NOT NULL,
        request     TEXT NOT NULL,
        response    TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        PRIMARY KEY (instance_id, id)
    );
    CREATE TABLE secrets (
        deployment TEXT NOT NULL,
        name       TEXT NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (deployment, name)
    );
    CREATE TABLE sim_deployments (
        name     TEXT PRIMARY KEY,
        manifest TEXT NOT NULL
    );
    CREATE TABLE sim_tasks (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        deployment  TEXT NOT NULL,
        description TEXT NOT NULL,
        context_id  TEXT NOT NULL DEFAULT '',
        started_ms  INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        outcome     TEXT NOT NULL,
        result      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sim_tasks_by_context ON sim_tasks(context_id);
    "#,
        postgres: r#"
    CREATE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER
        LANGUAGE sql IMMUTABLE STRICT AS 'SELECT strpos(haystack, needle)';
    CREATE TABLE instances (
        id                TEXT COLLATE "C" PRIMARY KEY,
        service_id        TEXT COLLATE "C" NOT NULL,
        plan_id           TEXT COLLATE "C" NOT NULL,
        organization_guid TEXT COLLATE "C" NOT NULL DEFAULT '',
        space_guid        TEXT COLLATE "C" NOT NULL DEFAULT '',
        context           TEXT NOT NULL DEFAULT 'null',
        parameters        TEXT NOT NULL DEFAULT '{}',
        maintenance_info  TEXT NOT NULL DEFAULT 'null',
        dashboard_url     TEXT,
        labels            TEXT NOT NULL DEFAULT 'null',
        configs           TEXT NOT NULL DEFAULT 'null',
        state             TEXT COLLATE "C" NOT NULL,
        deployment_name   TEXT COLLATE "C" NOT NULL,
        created_at        TEXT COLLATE "C" NOT NULL,
        updated_at        TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE operations (
        rowid         BIGINT GENERATED ALWAYS AS IDENTITY,
        id            TEXT COLLATE "C" PRIMARY KEY,
        instance_id   TEXT COLLATE "C" NOT NULL,
        kind          TEXT COLLATE "C" NOT NULL,
        state         TEXT COLLATE "C" NOT NULL,
        stage         TEXT COLLATE "C" NOT NULL,
        task_id       BIGINT,
        errand_index  BIGINT NOT NULL DEFAULT 0,
        request       TEXT NOT NULL,
        description   TEXT NOT NULL DEFAULT '',
        error         TEXT NOT NULL DEFAULT '',
        created_at    TEXT COLLATE "C" NOT NULL,
        updated_at    TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX operations_by_instance ON operations(instance_id, created_at);
    CREATE UNIQUE INDEX one_in_flight_operation_per_instance
        ON operations(instance_id) WHERE state = 'in progress';
    CREATE TABLE bindings (
        instance_id TEXT COLLATE "C" NOT NULL,
        id          TEXT COLLATE "C" NOT NULL,
        service_id  TEXT COLLATE "C" NOT NULL,
        plan_id     TEXT COLLATE "C" NOT NULL,
        request     TEXT NOT NULL,
        response    TEXT NOT NULL,
        created_at  TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (instance_id, id)
    );
    CREATE TABLE secrets (
        deployment TEXT COLLATE "C" NOT NULL,
        name       TEXT COLLATE "C" NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (deployment, name)
    );
    CREATE TABLE sim_deployments (
        name     TEXT COLLATE "C" PRIMARY KEY,
        manifest TEXT NOT NULL
    );
    CREATE TABLE sim_tasks (
        id          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        deployment  TEXT COLLATE "C" NOT NULL,
        description TEXT NOT NULL,
        context_id  TEXT COLLATE "C" NOT NULL DEFAULT '',
        started_ms  BIGINT NOT NULL,
        duration_ms BIGINT NOT NULL,
        outcome     TEXT COLLATE "C" NOT NULL,
        result      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX sim_tasks_by_context ON sim_tasks(context_id);
    "#,
    },
    // 2: the operations journal: what each operation (or bind, unbind) did, step by step.
    Migration {
        sqlite: r#"
    CREATE TABLE journal (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        instance_id  TEXT NOT NULL,
        operation_id TEXT,
        activity     TEXT NOT NULL,
        at           TEXT NOT NULL,
        step         TEXT NOT NULL
    );
    CREATE INDEX journal_by_instance ON journal(instance_id, seq);
    "#,
        postgres: r#"
    CREATE TABLE journal (
        seq          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        instance_id  TEXT COLLATE "C" NOT NULL,
        operation_id TEXT COLLATE "C",
        activity     TEXT NOT NULL,
        at           TEXT COLLATE "C" NOT NULL,
        step         TEXT NOT NULL
    );
    CREATE INDEX journal_by_instance ON journal(instance_id, seq);
    "#,
    },
    // 3: sealing: per key label, the HKDF salt and a canary that detects a wrong secret.
    // The clear values of the sealed columns are sealed in the same transaction.
    Migration {
        sqlite: r#"
    CREATE TABLE sealing_keys (
        label  TEXT PRIMARY KEY,
        salt   BLOB NOT NULL,
        canary TEXT NOT NULL
    );
    "#,
        postgres: r#"
    CREATE TABLE sealing_keys (
        label  TEXT COLLATE "C" PRIMARY KEY,
        salt   BYTEA NOT NULL,
        canary TEXT NOT NULL
    );
    "#,
    },
    // 4: the simulated director's config server: credential versions (the value sealed) and
    // the version of each variable a deployment was deployed with.
    Migration {
        sqlite: r#"
    CREATE TABLE config_values (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        kind       TEXT NOT NULL,
        options    TEXT NOT NULL DEFAULT 'null',
        value      TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX config_values_by_name ON config_values(name, created_at);
    CREATE TABLE deployment_variables (
        deployment TEXT NOT NULL,
        name       TEXT NOT NULL,
        value_id   TEXT NOT NULL,
        PRIMARY KEY (deployment, name)
    );
    "#,
        postgres: r#"
    CREATE TABLE config_values (
        rowid      BIGINT GENERATED ALWAYS AS IDENTITY,
        id         TEXT COLLATE "C" PRIMARY KEY,
        name       TEXT COLLATE "C" NOT NULL,
        kind       TEXT COLLATE "C" NOT NULL,
        options    TEXT NOT NULL DEFAULT 'null',
        value      TEXT NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL
    );
    CREATE INDEX config_values_by_name ON config_values(name, created_at);
    CREATE TABLE deployment_variables (
        deployment TEXT COLLATE "C" NOT NULL,
        name       TEXT COLLATE "C" NOT NULL,
        value_id   TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (deployment, name)
    );
    "#,
    },
    // 5: operation leases, for several replicas on one database: the replica driving an
    // operation, until when, and the fencing epoch that every take-over increments.
    Migration {
        sqlite: r#"
    ALTER TABLE operations ADD COLUMN lease_owner TEXT;
    ALTER TABLE operations ADD COLUMN lease_expires_ms INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE operations ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
    "#,
        postgres: r#"
    ALTER TABLE operations ADD COLUMN lease_owner TEXT COLLATE "C";
    ALTER TABLE operations ADD COLUMN lease_expires_ms BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE operations ADD COLUMN lease_epoch BIGINT NOT NULL DEFAULT 0;
    "#,
    },
];

/// The version whose migration introduces sealing.
pub const SEALING_VERSION: i64 = 3;
