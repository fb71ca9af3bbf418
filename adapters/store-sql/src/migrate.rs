//! Applying the schema: each dialect's catalog read, the lock that serialises concurrent
//! `migrate()` calls, and every step of `schema` applied once.

use portcullis_domain::store::StoreError;
use sqlx::mysql::MySqlConnection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use sqlx::Connection;

use crate::error;
// Every table, index and step the schema declares is applied here.
use crate::schema::*;
use crate::sql::Dialect;
use crate::store::Pools;
use crate::SqlStore;

/// An index as the catalog describes it.
#[derive(Debug)]
struct IndexInfo {
    name: String,
    unique: bool,
    /// Partial (a `WHERE`), or on a prefix or an expression: enforces nothing on the
    /// whole column.
    partial: bool,
    columns: Vec<String>,
}

/// The migration connection of one dialect, with the catalog queries each needs.
enum Conn<'a> {
    Pg(&'a mut PgConnection),
    My(&'a mut MySqlConnection),
    Lite(&'a mut SqliteConnection),
}

impl Conn<'_> {
    fn dialect(&self) -> Dialect {
        match self {
            Conn::Pg(_) => Dialect::Postgres,
            Conn::My(_) => Dialect::MySql,
            Conn::Lite(_) => Dialect::Sqlite,
        }
    }

    /// Runs DDL (built from constants only).
    async fn ddl(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Conn::Pg(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
            Conn::My(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
            Conn::Lite(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(|_| ()),
        }
    }

    async fn columns(&mut self, table: &str) -> Result<Vec<String>, sqlx::Error> {
        match self {
            Conn::Pg(c) => {
                sqlx::query_scalar(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await
            }
            Conn::My(c) => {
                sqlx::query_scalar(
                    "SELECT CAST(COLUMN_NAME AS CHAR(64)) FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await
            }
            Conn::Lite(c) => {
                sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                    .bind(table)
                    .fetch_all(&mut **c)
                    .await
            }
        }
    }

    async fn indexes(&mut self, table: &str) -> Result<Vec<IndexInfo>, sqlx::Error> {
        // (index, unique, partial, column or None for an expression), in column order.
        let rows: Vec<(String, bool, bool, Option<String>)> = match self {
            Conn::Pg(c) => {
                sqlx::query_as(
                    "SELECT ic.relname::text, ix.indisunique, (ix.indpred IS NOT NULL), \
                            a.attname::text \
                     FROM pg_index ix \
                     JOIN pg_class t ON t.oid = ix.indrelid \
                     JOIN pg_class ic ON ic.oid = ix.indexrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                     LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
                     WHERE n.nspname = current_schema() AND t.relname = $1 \
                     ORDER BY ic.relname, k.ord",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await?
            }
            Conn::My(c) => {
                let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT CAST(INDEX_NAME AS CHAR(64)), CAST(NON_UNIQUE AS SIGNED), \
                            CAST(SUB_PART IS NOT NULL AS SIGNED), CAST(COLUMN_NAME AS CHAR(64)) \
                     FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? \
                     ORDER BY INDEX_NAME, SEQ_IN_INDEX",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await?;
                rows.into_iter()
                    .map(|(name, non_unique, prefix, column)| {
                        (name, non_unique == 0, prefix != 0, column)
                    })
                    .collect()
            }
            Conn::Lite(c) => {
                let rows: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT il.name, il.\"unique\", il.partial, ii.name \
                     FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii \
                     ORDER BY il.name, ii.seqno",
                )
                .bind(table)
                .fetch_all(&mut **c)
                .await?;
                rows.into_iter()
                    .map(|(name, unique, partial, column)| (name, unique != 0, partial != 0, column))
                    .collect()
            }
        };
        let mut indexes: Vec<IndexInfo> = Vec::new();
        for (name, unique, partial, column) in rows {
            let expression = column.is_none();
            match indexes.last_mut() {
                Some(last) if last.name == name => {
                    last.partial |= expression;
                    last.columns.extend(column);
                }
                _ => indexes.push(IndexInfo {
                    name,
                    unique,
                    partial: partial || expression,
                    columns: column.into_iter().collect(),
                }),
            }
        }
        Ok(indexes)
    }

    /// Whether an index name is free for `table`: PostgreSQL and SQLite share one
    /// namespace per schema, MySQL has one per table.
    async fn name_taken(&mut self, name: &str, table: &str) -> Result<bool, sqlx::Error> {
        let found: Option<i64> =
            match self {
                Conn::Pg(c) => sqlx::query_scalar(
                    "SELECT 1::int8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relname = $1",
                )
                .bind(name)
                .fetch_optional(&mut **c)
                .await?,
                Conn::My(_) => {
                    let indexes = self.indexes(table).await?;
                    return Ok(indexes.iter().any(|i| i.name.eq_ignore_ascii_case(name)));
                }
                Conn::Lite(c) => {
                    sqlx::query_scalar("SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE")
                        .bind(name)
                        .fetch_optional(&mut **c)
                        .await?
                }
            };
        Ok(found.is_some())
    }

    async fn applied(&mut self) -> Result<Vec<i64>, sqlx::Error> {
        let sql = "SELECT version FROM portcullis_migrations WHERE version > 0 ORDER BY version";
        match self {
            Conn::Pg(c) => sqlx::query_scalar(sql).fetch_all(&mut **c).await,
            Conn::My(c) => sqlx::query_scalar(sql).fetch_all(&mut **c).await,
            Conn::Lite(c) => sqlx::query_scalar(sql).fetch_all(&mut **c).await,
        }
    }

    /// Whether the `UPGRADED_FROM_V3` row is there (false before any migration).
    async fn upgraded_from_v3(&mut self) -> Result<bool, sqlx::Error> {
        if self.columns("portcullis_migrations").await?.is_empty() {
            return Ok(false);
        }
        let sql = "SELECT version FROM portcullis_migrations WHERE version = 0";
        let found: Option<i64> = match self {
            Conn::Pg(c) => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?,
            Conn::My(c) => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?,
            Conn::Lite(c) => sqlx::query_scalar(sql).fetch_optional(&mut **c).await?,
        };
        Ok(found.is_some())
    }

    async fn applied_if_any(&mut self) -> Result<Vec<i64>, sqlx::Error> {
        if self.columns("portcullis_migrations").await?.is_empty() {
            return Ok(Vec::new());
        }
        self.applied().await
    }

    async fn record(&mut self, m: &Migration) -> Result<(), sqlx::Error> {
        let sql = self
            .dialect()
            .render("INSERT INTO portcullis_migrations (version, name) VALUES (?, ?)");
        match self {
            Conn::Pg(c) => sqlx::query(&sql)
                .bind(m.version)
                .bind(m.name)
                .execute(&mut **c)
                .await
                .map(|_| ()),
            Conn::My(c) => sqlx::query(&sql)
                .bind(m.version)
                .bind(m.name)
                .execute(&mut **c)
                .await
                .map(|_| ()),
            Conn::Lite(c) => sqlx::query(&sql)
                .bind(m.version)
                .bind(m.name)
                .execute(&mut **c)
                .await
                .map(|_| ()),
        }
    }

    /// Creates `index` unless an index on exactly that column (unique, if uniqueness is
    /// asked for) exists under any name.
    async fn ensure_index(&mut self, index: &Index) -> Result<(), StoreError> {
        let map = |e| error::map(MIGRATE, e);
        let existing = self.indexes(index.table).await.map_err(map)?;
        let covered = existing.iter().any(|i| {
            !i.partial
                && (i.unique || !index.unique)
                && i.columns.len() == 1
                && i.columns[0].eq_ignore_ascii_case(index.column)
        });
        if covered {
            return Ok(());
        }
        let mut name = index.name.to_owned();
        if self.name_taken(&name, index.table).await.map_err(map)? {
            name = format!("portcullis_{}_{}", index.table, index.column);
        }
        let unique = if index.unique { "UNIQUE " } else { "" };
        let sql = format!(
            "CREATE {unique}INDEX {name} ON {} ({})",
            index.table, index.column
        );
        self.ddl(&sql).await.map_err(|e| match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(format!(
                "migrate: cannot create the unique index on {}.{}: rows share a value",
                index.table, index.column
            )),
            other => map(other),
        })
    }

    async fn apply(&mut self, m: &Migration, collation: &str) -> Result<(), StoreError> {
        let d = self.dialect();
        let map = |e| error::map(MIGRATE, e);
        match m.version {
            1 => {
                // v3's sessions table before we create anything: a database v3 made.
                if !self.columns("sessions").await.map_err(map)?.is_empty() {
                    self.record(&UPGRADED_FROM_V3).await.map_err(map)?;
                }
                for ddl in v3_tables(d, collation) {
                    self.ddl(&ddl).await.map_err(map)?;
                }
                // Tables that existed already must be v3's before they get v3's indexes.
                self.check_columns(false).await?;
                for index in &V3_INDEXES {
                    self.ensure_index(index).await?;
                }
            }
            2 => {
                let present = self.columns("accounts").await.map_err(map)?;
                for (column, ty) in token_columns() {
                    if !present.iter().any(|c| c.eq_ignore_ascii_case(column)) {
                        let sql = format!("ALTER TABLE accounts ADD COLUMN {column} {ty}");
                        self.ddl(&sql).await.map_err(map)?;
                    }
                }
            }
            3 => self.ensure_index(&SESSIONS_USER_ID).await?,
            4 => {
                self.ddl(&rate_limits_table(d, collation))
                    .await
                    .map_err(map)?;
                // A table of that name that existed before must be ours.
                let present = self.columns("portcullis_rate_limits").await.map_err(map)?;
                let missing: Vec<&str> = RATE_LIMIT_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_rate_limits lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
                self.ensure_index(&RATE_LIMITS_WINDOW_START).await?;
            }
            5 => {
                self.ddl(&outbox_table(d, collation)).await.map_err(map)?;
                let present = self.columns("portcullis_outbox").await.map_err(map)?;
                let missing: Vec<&str> = OUTBOX_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_outbox lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
                self.ensure_index(&OUTBOX_DUE).await?;
            }
            6 => {
                self.ddl(&revoked_jwts_table(d, collation))
                    .await
                    .map_err(map)?;
                // A table of that name that existed before must be ours.
                let present = self.columns("portcullis_revoked_jwts").await.map_err(map)?;
                let missing: Vec<&str> = REVOKED_JWT_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_revoked_jwts lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
                self.ensure_index(&REVOKED_JWTS_EXPIRES).await?;
            }
            7 => {
                self.ddl(&leases_table(d, collation)).await.map_err(map)?;
                // A table of that name that existed before must be ours.
                let present = self.columns("portcullis_leases").await.map_err(map)?;
                let missing: Vec<&str> = LEASE_COLUMNS
                    .into_iter()
                    .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::Backend(format!(
                        "migrate: table portcullis_leases lacks column(s) {}",
                        missing.join(", ")
                    )));
                }
            }
            _ => {}
        }
        self.record(m).await.map_err(map)
    }

    /// Applies what is pending; returns what was applied.
    async fn migrate(&mut self, collation: &str) -> Result<Vec<Migration>, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        let d = self.dialect();
        self.ddl(&migrations_table(d)).await.map_err(map)?;
        let applied = self.applied().await.map_err(map)?;
        let mut done = Vec::new();
        for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
            self.apply(m, collation).await?;
            tracing::info!(target: "portcullis", version = m.version, name = m.name, "applied migration");
            done.push(*m);
        }
        self.check_columns(true).await?;
        Ok(done)
    }

    /// Every column the store reads and writes is there (a table that existed before,
    /// in some other shape, is reported rather than half-used).
    async fn check_columns(&mut self, with_additions: bool) -> Result<(), StoreError> {
        let additions: Vec<&str> = token_columns().iter().map(|(c, _)| *c).collect();
        for (table, required) in REQUIRED_COLUMNS {
            let present = self
                .columns(table)
                .await
                .map_err(|e| error::map(MIGRATE, e))?;
            let missing: Vec<&str> = required
                .iter()
                .copied()
                .filter(|c| with_additions || !additions.contains(c))
                .filter(|c| !present.iter().any(|p| p.eq_ignore_ascii_case(c)))
                .collect();
            if !missing.is_empty() {
                return Err(StoreError::Backend(format!(
                    "migrate: table {table} lacks column(s) {}: it is not NextAuth v3's schema",
                    missing.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// MySQL's binary collation for new tables: byte-exact comparisons and unique indexes,
/// without trailing-space padding where the server has a NO PAD one.
async fn mysql_binary_collation(conn: &mut MySqlConnection) -> Result<String, sqlx::Error> {
    let available: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(COLLATION_NAME AS CHAR(64)) FROM information_schema.COLLATIONS \
         WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin', 'utf8mb4_bin')",
    )
    .fetch_all(&mut *conn)
    .await?;
    let best = ["utf8mb4_nopad_bin", "utf8mb4_0900_bin"]
        .into_iter()
        .find(|c| available.iter().any(|a| a == c))
        .unwrap_or("utf8mb4_bin");
    Ok(best.to_owned())
}

const PG_LOCK_KEY: i64 = 0x706f_7274_6375_6c6c; // "portcull"
/// MySQL's named locks are server-wide (PostgreSQL's advisory locks are per database):
/// the name carries the database's, hashed to stay within the 64-character limit, so
/// migrations of different databases on one server do not wait for each other.
const MYSQL_GET_LOCK: &str = "SELECT GET_LOCK(CONCAT('portcullis_migrate_', SHA1(DATABASE())), ?)";
const MYSQL_RELEASE_LOCK: &str =
    "SELECT RELEASE_LOCK(CONCAT('portcullis_migrate_', SHA1(DATABASE())))";
const MYSQL_LOCK_WAIT_SECONDS: i64 = 60;

impl SqlStore {
    /// Creates NextAuth v3's schema (spec §10.4) where it is missing and applies
    /// Portcullis's additions; returns the migrations applied now (empty: up to date).
    ///
    /// Safe on a database v3 created: tables that exist are kept, and only missing
    /// nullable columns and missing indexes are added. Fails, naming them, when a table
    /// exists without a column the store needs.
    pub async fn migrate(&self) -> Result<Vec<Migration>, StoreError> {
        let done = self.migrate_locked().await?;
        self.read_origin().await?;
        Ok(done)
    }

    async fn migrate_locked(&self) -> Result<Vec<Migration>, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        match self.pools() {
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(map)?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(PG_LOCK_KEY)
                    .execute(&mut *tx)
                    .await
                    .map_err(map)?;
                let done = Conn::Pg(&mut tx).migrate("").await?;
                tx.commit().await.map_err(map)?;
                Ok(done)
            }
            Pools::MySql(pool) => {
                let mut conn = pool.acquire().await.map_err(map)?;
                // A TIMESTAMP NOT NULL without a default must not turn into
                // `DEFAULT CURRENT_TIMESTAMP ON UPDATE …` (old servers' default).
                let _ = sqlx::query("SET SESSION explicit_defaults_for_timestamp = 1")
                    .execute(&mut *conn)
                    .await;
                let locked: Option<i64> = sqlx::query_scalar(MYSQL_GET_LOCK)
                    .bind(MYSQL_LOCK_WAIT_SECONDS)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(map)?;
                if locked != Some(1) {
                    return Err(StoreError::Backend(
                        "migrate: another migration holds the lock".to_owned(),
                    ));
                }
                let result = match mysql_binary_collation(&mut conn).await {
                    Ok(collation) => Conn::My(&mut conn).migrate(&collation).await,
                    Err(e) => Err(map(e)),
                };
                let released = sqlx::query(MYSQL_RELEASE_LOCK).execute(&mut *conn).await;
                let done = result?;
                released.map_err(map)?;
                Ok(done)
            }
            Pools::Sqlite(pool) => {
                let mut conn = pool.acquire().await.map_err(map)?;
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(map)?;
                let done = Conn::Lite(&mut tx).migrate("").await?;
                tx.commit().await.map_err(map)?;
                Ok(done)
            }
        }
    }

    /// Whether `migrate` took this database over from NextAuth v3 (it found v3's tables
    /// when it first ran): recorded as [`UPGRADED_FROM_V3`]. Databases migrated before
    /// this record existed read `false`.
    pub async fn recorded_upgrade_from_v3(&self) -> Result<bool, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        match self.pools() {
            Pools::Postgres(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Pg(&mut c).upgraded_from_v3().await
            }
            Pools::MySql(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::My(&mut c).upgraded_from_v3().await
            }
            Pools::Sqlite(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Lite(&mut c).upgraded_from_v3().await
            }
        }
        .map_err(map)
    }

    /// The versions recorded in `portcullis_migrations` (empty before the first
    /// [`migrate`](SqlStore::migrate)).
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let map = |e| error::map(MIGRATE, e);
        match self.pools() {
            Pools::Postgres(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Pg(&mut c).applied_if_any().await
            }
            Pools::MySql(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::My(&mut c).applied_if_any().await
            }
            Pools::Sqlite(pool) => {
                let mut c = pool.acquire().await.map_err(map)?;
                Conn::Lite(&mut c).applied_if_any().await
            }
        }
        .map_err(map)
    }
}
