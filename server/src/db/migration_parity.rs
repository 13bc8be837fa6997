//! The SQLite and PostgreSQL migrations (`migrations/sqlite`, `migrations/postgres`) are written
//! twice, one set per backend. This test applies both through [`Db::connect`] (the server's own
//! migrate code) to a fresh database of each and compares what they made: the same tables, the
//! same columns, of matching types and nullability. What one backend has and the other must not
//! is listed in [`KNOWN`] with its reason; anything else that differs fails the test.

use super::Backend;
use super::testing::db;
use sqlx::Row;
use std::collections::BTreeMap;

/// Tables one backend has by design, with why. Columns of these are not compared.
const KNOWN: &[(Backend, &str, &str)] = &[
    (
        Backend::Sqlite,
        "story_fts",
        "the desk's full-text search: an FTS5 virtual table (with its shadow tables); PostgreSQL \
         searches a tsvector column of story_index instead",
    ),
    (
        Backend::Sqlite,
        "sqlite_sequence",
        "SQLite's own bookkeeping of AUTOINCREMENT keys; PostgreSQL keeps sequences outside tables",
    ),
];

/// Columns one backend has by design, with why: (backend, table, column, reason).
const KNOWN_COLUMNS: &[(Backend, &str, &str, &str)] = &[(
    Backend::Postgres,
    "story_index",
    "search",
    "the full-text search vector (tsvector, generated); SQLite searches story_fts",
)];

/// One column as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    /// The type's family: integer, real, text, bytes, boolean (or the declared type, lowercased,
    /// when it is none of these, so that it is compared as written).
    ty: String,
    not_null: bool,
}

/// Table → column → [`Column`].
type Schema = BTreeMap<String, BTreeMap<String, Column>>;

/// The family a declared type belongs to: SQLite's type affinity rules, applied to both backends'
/// names for their types.
fn family(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    let family = if t == "boolean" || t == "bool" {
        "boolean"
    } else if t.contains("int") || t.contains("serial") {
        "integer"
    } else if t.contains("char") || t.contains("text") || t.contains("clob") {
        "text"
    } else if t.contains("blob") || t == "bytea" {
        "bytes"
    } else if t.contains("real") || t.contains("floa") || t.contains("doub") {
        "real"
    } else if t.starts_with("timestamp") {
        // sqlx's own `_sqlx_migrations.installed_on`: TIMESTAMP in SQLite, timestamptz here.
        "timestamp"
    } else {
        return t;
    };
    family.to_string()
}

async fn sqlite_schema(pool: &sqlx::AnyPool) -> Schema {
    let rows = sqlx::query(
        "SELECT m.name AS tbl, p.name AS col, p.type AS ty, p.\"notnull\" AS nn, p.pk AS pk \
         FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' ORDER BY m.name, p.cid",
    )
    .fetch_all(pool)
    .await
    .expect("SQLite's table list");
    let virtual_tables: Vec<String> = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'",
    )
    .fetch_all(pool)
    .await
    .expect("SQLite's virtual tables")
    .iter()
    .map(|r| r.get::<String, _>("name"))
    .collect();
    let mut schema = Schema::new();
    for r in rows {
        let table: String = r.get("tbl");
        // An FTS5 table's shadow tables (`<name>_data`, `_idx`, `_content`, `_docsize`,
        // `_config`) belong to it: they count as the virtual table itself.
        let table = virtual_tables
            .iter()
            .find(|v| {
                table
                    .strip_prefix(v.as_str())
                    .is_some_and(|s| s.starts_with('_'))
            })
            .cloned()
            .unwrap_or(table);
        let ty: String = r.get("ty");
        // A primary key column is NOT NULL in PostgreSQL; SQLite's table_info says notnull 0 for
        // an INTEGER PRIMARY KEY (the rowid), which cannot be null either.
        let not_null = r.get::<i64, _>("nn") != 0 || r.get::<i64, _>("pk") != 0;
        schema.entry(table).or_default().insert(
            r.get("col"),
            Column {
                ty: family(&ty),
                not_null,
            },
        );
    }
    schema
}

async fn postgres_schema(pool: &sqlx::AnyPool) -> Schema {
    let rows = sqlx::query(
        "SELECT table_name::text AS tbl, column_name::text AS col, udt_name::text AS ty, \
         is_nullable::text AS nullable \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(pool)
    .await
    .expect("PostgreSQL's columns");
    let mut schema = Schema::new();
    for r in rows {
        let ty: String = r.get("ty");
        let ty = match ty.as_str() {
            "int2" | "int4" | "int8" => "integer".to_string(),
            "float4" | "float8" => "real".to_string(),
            "varchar" | "bpchar" => "text".to_string(),
            other => family(other),
        };
        schema.entry(r.get("tbl")).or_default().insert(
            r.get("col"),
            Column {
                ty,
                not_null: r.get::<String, _>("nullable") == "NO",
            },
        );
    }
    schema
}

/// Every difference between the two schemas that [`KNOWN`] and [`KNOWN_COLUMNS`] do not explain.
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<String> {
    let known_table = |b: Backend, t: &str| KNOWN.iter().any(|(kb, kt, _)| *kb == b && *kt == t);
    let known_column = |b: Backend, t: &str, c: &str| {
        KNOWN_COLUMNS
            .iter()
            .any(|(kb, kt, kc, _)| *kb == b && *kt == t && *kc == c)
    };
    let mut out = Vec::new();
    for (backend, ours, theirs, name, other) in [
        (Backend::Sqlite, sqlite, postgres, "SQLite", "PostgreSQL"),
        (Backend::Postgres, postgres, sqlite, "PostgreSQL", "SQLite"),
    ] {
        for (table, columns) in ours {
            if known_table(backend, table) {
                continue;
            }
            let Some(their_columns) = theirs.get(table) else {
                out.push(format!("{name} has table {table}, {other} does not"));
                continue;
            };
            for (column_name, column) in columns {
                match their_columns.get(column_name) {
                    None if known_column(backend, table, column_name) => {}
                    None => out.push(format!(
                        "{name} has column {table}.{column_name}, {other} does not"
                    )),
                    // Each pair once: from SQLite's side.
                    Some(theirs) if backend == Backend::Sqlite && theirs != column => out.push(
                        format!("{table}.{name}: SQLite {column:?}, PostgreSQL {theirs:?}"),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    // A listed difference that is no longer there is stale: the list must stay true.
    for (backend, table, _) in KNOWN {
        let (ours, theirs) = match backend {
            Backend::Sqlite => (sqlite, postgres),
            Backend::Postgres => (postgres, sqlite),
        };
        if !ours.contains_key(*table) || theirs.contains_key(*table) {
            out.push(format!(
                "KNOWN lists {backend:?}-only table {table}: not so"
            ));
        }
    }
    for (backend, table, column, _) in KNOWN_COLUMNS {
        let (ours, theirs) = match backend {
            Backend::Sqlite => (sqlite, postgres),
            Backend::Postgres => (postgres, sqlite),
        };
        let has = |s: &Schema| s.get(*table).is_some_and(|c| c.contains_key(*column));
        if !has(ours) || has(theirs) {
            out.push(format!(
                "KNOWN_COLUMNS lists {backend:?}-only column {table}.{column}: not so"
            ));
        }
    }
    out
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_make_the_same_tables_and_columns() {
    let sqlite = db(Backend::Sqlite).await;
    let postgres = db(Backend::Postgres).await;
    let s = sqlite_schema(&sqlite.db.pool).await;
    let p = postgres_schema(&postgres.db.pool).await;
    // Not vacuous: both made the spine's tables.
    for schema in [&s, &p] {
        assert!(schema.contains_key("documents") && schema.contains_key("members"));
    }
    let diffs = differences(&s, &p);
    assert!(
        diffs.is_empty(),
        "the migrations differ between the backends:\n{}",
        diffs.join("\n")
    );
}
