//! The schema's version: which of this binary's migrations the database has applied, and
//! whether it holds any this binary does not know. Reads only; applying is `Store::migrate`.

use std::collections::BTreeMap;

use sqlx::migrate::{MigrateError, Migrator};

use super::{Store, StoreError};

/// The migrations embedded in this binary (the workspace's `migrations/`).
static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How the database's applied migrations compare with this binary's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions this binary has that the database has not applied, oldest first.
    pub pending: Vec<i64>,
    /// Versions applied whose checksum differs from this binary's file: the migration was
    /// edited after it ran, so the schema is not the one this binary was built for.
    pub mismatched: Vec<i64>,
    /// Versions whose last run failed part-way (`success = false`).
    pub failed: Vec<i64>,
    /// Versions applied that this binary does not know: the database is newer than the binary.
    pub unknown: Vec<i64>,
}

impl SchemaStatus {
    /// Nothing pending, edited or failed: this binary may use the database. Unknown (newer)
    /// versions do not count: migrations are append-only and additive, so an older binary
    /// keeps working on a newer schema (a rolling upgrade or a rollback runs exactly that).
    pub fn is_usable(&self) -> bool {
        self.pending.is_empty() && self.mismatched.is_empty() && self.failed.is_empty()
    }

    /// Why the database cannot be used, in one line naming the versions and what to do;
    /// `None` when it can.
    pub fn refusal(&self) -> Option<String> {
        if !self.failed.is_empty() {
            return Some(format!(
                "the database's {} failed part-way; repair it by hand, then run `budget-service migrate`",
                versions(&self.failed)
            ));
        }
        if !self.mismatched.is_empty() {
            return Some(format!(
                "the database's {} differs from this binary's (edited after it was applied); \
                 this binary does not match the schema",
                versions(&self.mismatched)
            ));
        }
        if !self.pending.is_empty() {
            return Some(format!(
                "the database schema is behind this binary: {} pending; run `budget-service migrate` first",
                versions(&self.pending)
            ));
        }
        None
    }

    /// A warning when the database is newer than this binary; `None` otherwise.
    pub fn newer_warning(&self) -> Option<String> {
        (!self.unknown.is_empty()).then(|| {
            format!(
                "the database has {} that this binary does not know (it is newer); \
                 continuing, as migrations only add",
                versions(&self.unknown)
            )
        })
    }
}

/// "migration 1" or "migrations 1, 2".
fn versions(list: &[i64]) -> String {
    let names = list
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let noun = if list.len() == 1 {
        "migration"
    } else {
        "migrations"
    };
    format!("{noun} {names}")
}

/// One row of the migrations table.
#[derive(sqlx::FromRow)]
struct AppliedRow {
    version: i64,
    success: bool,
    checksum: Vec<u8>,
}

impl Store {
    /// Applies this binary's pending migrations under sqlx's advisory lock, so replicas
    /// starting at once apply each migration once. Versions the database has and this binary
    /// does not (a newer database) are left alone rather than refused.
    pub(crate) async fn migrate(&self) -> Result<(), MigrateError> {
        let mut migrator = sqlx::migrate!("../../migrations");
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await
    }

    /// Compares the database's applied migrations with this binary's, changing nothing
    /// (no migrations table is created when there is none).
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let rows: Vec<AppliedRow> = if exists {
            sqlx::query_as(
                "SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        Ok(compare(&known(), &rows))
    }
}

/// This binary's up migrations: version and checksum.
fn known() -> BTreeMap<i64, Vec<u8>> {
    MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.checksum.to_vec()))
        .collect()
}

fn compare(known: &BTreeMap<i64, Vec<u8>>, applied: &[AppliedRow]) -> SchemaStatus {
    let mut status = SchemaStatus::default();
    for row in applied {
        match known.get(&row.version) {
            None => status.unknown.push(row.version),
            Some(_) if !row.success => status.failed.push(row.version),
            Some(checksum) if *checksum != row.checksum => status.mismatched.push(row.version),
            Some(_) => {}
        }
    }
    status.pending = known
        .keys()
        .filter(|v| !applied.iter().any(|row| row.version == **v))
        .copied()
        .collect();
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(version: i64, success: bool, checksum: &[u8]) -> AppliedRow {
        AppliedRow {
            version,
            success,
            checksum: checksum.to_vec(),
        }
    }

    #[test]
    fn the_migrations_table_is_the_one_the_queries_name() {
        assert_eq!(MIGRATOR.table_name, "_sqlx_migrations");
        assert!(!known().is_empty());
    }

    #[test]
    fn compares_applied_rows_with_known_migrations() {
        let known = BTreeMap::from([(1, vec![1]), (2, vec![2]), (3, vec![3])]);
        let status = compare(
            &known,
            &[row(1, true, &[1]), row(2, true, &[9]), row(7, true, &[7])],
        );
        assert_eq!(status.pending, vec![3]);
        assert_eq!(status.mismatched, vec![2]);
        assert_eq!(status.unknown, vec![7]);
        assert!(!status.is_usable());
        assert!(status.refusal().unwrap().contains("migration 2 differs"));

        let newer = compare(
            &known,
            &[
                row(1, true, &[1]),
                row(2, true, &[2]),
                row(3, true, &[3]),
                row(4, true, &[4]),
            ],
        );
        assert!(newer.is_usable());
        assert_eq!(newer.refusal(), None);
        assert!(newer.newer_warning().unwrap().contains("migration 4"));

        let behind = compare(&known, &[row(1, true, &[1])]);
        let message = behind.refusal().unwrap();
        assert!(
            message.contains("migrations 2, 3 pending")
                && message.contains("budget-service migrate"),
            "{message}"
        );
        assert!(
            compare(&known, &[row(1, false, &[1])])
                .refusal()
                .unwrap()
                .contains("failed")
        );
    }
}
