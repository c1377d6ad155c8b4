//! Migrations, embedded at build time from `migrations/{sqlite,postgres}`.
//! On PostgreSQL the sqlx migrator holds an advisory lock, so replicas that
//! start together migrate one at a time.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::AnyPool;

use super::Dialect;

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "catalog",
        include_str!("../../migrations/sqlite/0001_catalog.sql"),
    ),
    (
        2,
        "governance",
        include_str!("../../migrations/sqlite/0002_governance.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "catalog",
        include_str!("../../migrations/postgres/0001_catalog.sql"),
    ),
    (
        2,
        "governance",
        include_str!("../../migrations/postgres/0002_governance.sql"),
    ),
];

/// Applies every pending migration of the dialect.
pub async fn run(pool: &AnyPool, dialect: Dialect) -> Result<(), sqlx::migrate::MigrateError> {
    let files = match dialect {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    let migrations = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sqlx::SqlSafeStr::into_sql_str(*sql),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations).run(pool).await
}
