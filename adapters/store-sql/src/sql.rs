//! The store's statements, written once as templates and rendered per dialect when the
//! store connects.
//!
//! Template syntax: `?` is a bound parameter; `?s` is a bound string that must match a
//! column byte for byte; `{now}` is the database's current time. Nothing else is
//! substituted, and no template ever contains input: every value is bound.
//!
//! `?s` exists for MySQL/MariaDB, whose default collations ignore case, accents and
//! trailing spaces. Tables created by `migrate()` use a binary collation, but tables v3
//! created keep the database default, so the comparison itself is made binary there:
//! `col = BINARY ?` (MariaDB still uses the column's index for it).

/// Which SQL database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
    /// SQLite (a file).
    Sqlite,
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dialect::Postgres => "PostgreSQL",
            Dialect::MySql => "MySQL/MariaDB",
            Dialect::Sqlite => "SQLite",
        })
    }
}

impl Dialect {
    /// The database's current time, as a column default or in an `UPDATE`.
    pub(crate) fn now(self) -> &'static str {
        match self {
            Dialect::Postgres => "CURRENT_TIMESTAMP",
            Dialect::MySql => "CURRENT_TIMESTAMP(6)",
            Dialect::Sqlite => "(strftime('%Y-%m-%d %H:%M:%f', 'now'))",
        }
    }

    /// Equality that holds for two NULLs too (and is false for NULL and a value).
    pub(crate) fn null_safe_eq(self) -> &'static str {
        match self {
            Dialect::Postgres => "IS NOT DISTINCT FROM",
            Dialect::MySql => "<=>",
            Dialect::Sqlite => "IS",
        }
    }

    /// Renders a template (see the module docs).
    pub(crate) fn render(self, template: &str) -> String {
        let mut out = String::with_capacity(template.len() + 16);
        let mut n = 0;
        let mut rest = template;
        while let Some(i) = rest.find(['?', '{']) {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if let Some(after) = rest.strip_prefix("{now}") {
                out.push_str(self.now());
                rest = after;
                continue;
            }
            if let Some(after) = rest.strip_prefix('?') {
                n += 1;
                let (exact, after) = match after.strip_prefix('s') {
                    Some(after) => (true, after),
                    None => (false, after),
                };
                match self {
                    Dialect::Postgres => out.push_str(&format!("${n}")),
                    Dialect::MySql if exact => out.push_str("BINARY ?"),
                    Dialect::MySql | Dialect::Sqlite => out.push('?'),
                }
                rest = after;
                continue;
            }
            // A `{` that is not `{now}`.
            out.push('{');
            rest = &rest[1..];
        }
        out.push_str(rest);
        out
    }
}

const USER: &str = "id, name, email, email_verified, image";
const SESSION: &str = "session_token, user_id, expires, access_token, created_at";
const ACCOUNT: &str = "user_id, provider_type, provider_id, provider_account_id, \
                       refresh_token, access_token, access_token_expires, token_type, scope, id_token";

/// Every statement of the store, rendered for one dialect.
#[derive(Debug)]
pub(crate) struct Queries {
    pub get_user: String,
    pub get_user_by_email: String,
    pub get_user_by_account: String,
    /// Returns the new id (`RETURNING id`), except on MySQL, which has no `RETURNING`
    /// on `INSERT` (the id comes from `last_insert_id`).
    pub create_user: String,
    pub update_user: String,
    pub delete_user_accounts: String,
    pub delete_user_sessions: String,
    pub delete_user: String,
    pub link_account: String,
    pub get_account: String,
    /// A user's accounts in link order: `accounts.id` is assigned on insert.
    pub get_accounts_for_user: String,
    pub unlink_account: String,
    /// Compare-and-set of an account's tokens on its refresh token (null-safe equality).
    /// PostgreSQL and SQLite: `RETURNING` the updated row. MySQL, which has no
    /// `UPDATE … RETURNING`: the affected-row count, then `get_account` in the same
    /// transaction.
    pub update_account_tokens: String,
    /// `created_at` is the session's `created`, or the database's clock when it has none
    /// (as v3's column default stamps it).
    pub create_session: String,
    pub get_session_and_user: String,
    pub update_session_expiry: String,
    pub delete_session: String,
    pub list_sessions: String,
    pub delete_sessions_for_user: String,
    pub create_verification_token: String,
    /// PostgreSQL and SQLite: one `DELETE … RETURNING`. MySQL: the row to take …
    pub use_verification_token: String,
    /// … and, MySQL only, the `DELETE` by id whose affected-row count says who took it.
    pub take_verification_token: String,
    /// Records a revoked JWT `jti` (binds jti, expires); a `jti` recorded already is kept
    /// as it is (an upsert that changes nothing, never a unique violation).
    pub revoke_jwt: String,
    /// Drops the revocations that expired before the bound instant.
    pub drop_expired_revocations: String,
    /// The revocation of a `jti`, if any.
    pub is_jwt_revoked: String,
    /// Takes a free lease (binds key, holder, until_ms): one affected row, or none when
    /// the key has a lease already.
    pub insert_lease: String,
    /// Takes over an ended lease, or extends one's own (binds holder, until_ms, key, now_ms,
    /// holder): one matched row when granted.
    pub renew_lease: String,
    /// Ends a holder's lease (binds key, holder).
    pub release_lease: String,
}

impl Queries {
    pub(crate) fn new(d: Dialect) -> Queries {
        let returning_id = if d == Dialect::MySql {
            ""
        } else {
            " RETURNING id"
        };
        Queries {
            get_user: d.render(&format!("SELECT {USER} FROM users WHERE id = ?")),
            get_user_by_email: d.render(&format!("SELECT {USER} FROM users WHERE email = ?s")),
            get_user_by_account: d.render(
                "SELECT u.id, u.name, u.email, u.email_verified, u.image \
                 FROM accounts a JOIN users u ON u.id = a.user_id \
                 WHERE a.compound_id = ? AND a.provider_id = ?s AND a.provider_account_id = ?s",
            ),
            create_user: d.render(&format!(
                "INSERT INTO users (name, email, email_verified, image) VALUES (?, ?, ?, ?){returning_id}"
            )),
            update_user: d.render(
                "UPDATE users SET name = ?, email = ?, email_verified = ?, image = ?, \
                 updated_at = {now} WHERE id = ?",
            ),
            delete_user_accounts: d.render("DELETE FROM accounts WHERE user_id = ?"),
            delete_user_sessions: d.render("DELETE FROM sessions WHERE user_id = ?"),
            delete_user: d.render("DELETE FROM users WHERE id = ?"),
            link_account: d.render(
                "INSERT INTO accounts (compound_id, user_id, provider_type, provider_id, \
                 provider_account_id, refresh_token, access_token, access_token_expires, \
                 token_type, scope, id_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ),
            get_account: d.render(&format!(
                "SELECT {ACCOUNT} FROM accounts \
                 WHERE compound_id = ? AND provider_id = ?s AND provider_account_id = ?s"
            )),
            get_accounts_for_user: d.render(&format!(
                "SELECT {ACCOUNT} FROM accounts WHERE user_id = ? ORDER BY id"
            )),
            unlink_account: d.render(
                "DELETE FROM accounts \
                 WHERE compound_id = ? AND provider_id = ?s AND provider_account_id = ?s",
            ),
            update_account_tokens: d.render(&format!(
                "UPDATE accounts SET refresh_token = ?, access_token = ?, \
                 access_token_expires = ?, token_type = ?, scope = ?, id_token = ?, \
                 updated_at = {{now}} \
                 WHERE compound_id = ? AND provider_id = ?s AND provider_account_id = ?s \
                 AND refresh_token {} ?s{}",
                d.null_safe_eq(),
                if d == Dialect::MySql {
                    String::new()
                } else {
                    format!(" RETURNING {ACCOUNT}")
                }
            )),
            create_session: d.render(
                "INSERT INTO sessions (user_id, expires, session_token, access_token, created_at) \
                 VALUES (?, ?, ?, ?, COALESCE(?, {now}))",
            ),
            get_session_and_user: d.render(
                "SELECT s.session_token, s.user_id, s.expires, s.access_token, s.created_at, \
                 u.id, u.name, u.email, u.email_verified, u.image \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.session_token IN (?s, ?s)",
            ),
            update_session_expiry: d.render(
                "UPDATE sessions SET expires = ?, updated_at = {now} WHERE session_token = ?s",
            ),
            delete_session: d.render("DELETE FROM sessions WHERE session_token = ?s"),
            list_sessions: d.render(&format!(
                "SELECT {SESSION} FROM sessions WHERE user_id = ? ORDER BY expires, id"
            )),
            delete_sessions_for_user: d.render("DELETE FROM sessions WHERE user_id = ?"),
            create_verification_token: d.render(
                "INSERT INTO verification_requests (identifier, token, expires) VALUES (?, ?, ?)",
            ),
            use_verification_token: if d == Dialect::MySql {
                d.render(
                    "SELECT id, identifier, token, expires FROM verification_requests \
                     WHERE identifier = ?s AND token = ?s",
                )
            } else {
                d.render(
                    "DELETE FROM verification_requests WHERE identifier = ?s AND token = ?s \
                     RETURNING id, identifier, token, expires",
                )
            },
            take_verification_token: d.render("DELETE FROM verification_requests WHERE id = ?"),
            revoke_jwt: d.render(match d {
                Dialect::MySql => {
                    "INSERT INTO portcullis_revoked_jwts (jti, expires) VALUES (?, ?) \
                     ON DUPLICATE KEY UPDATE jti = jti"
                }
                Dialect::Postgres | Dialect::Sqlite => {
                    "INSERT INTO portcullis_revoked_jwts (jti, expires) VALUES (?, ?) \
                     ON CONFLICT (jti) DO NOTHING"
                }
            }),
            drop_expired_revocations: d
                .render("DELETE FROM portcullis_revoked_jwts WHERE expires < ?"),
            is_jwt_revoked: d.render("SELECT jti FROM portcullis_revoked_jwts WHERE jti = ?s"),
            insert_lease: d.render(match d {
                Dialect::MySql => {
                    "INSERT IGNORE INTO portcullis_leases (lease_key, holder, until_ms) \
                     VALUES (?, ?, ?)"
                }
                Dialect::Postgres | Dialect::Sqlite => {
                    "INSERT INTO portcullis_leases (lease_key, holder, until_ms) \
                     VALUES (?, ?, ?) ON CONFLICT (lease_key) DO NOTHING"
                }
            }),
            renew_lease: d.render(
                "UPDATE portcullis_leases SET holder = ?, until_ms = ? \
                 WHERE lease_key = ?s AND (until_ms <= ? OR holder = ?s)",
            ),
            release_lease: d
                .render("DELETE FROM portcullis_leases WHERE lease_key = ?s AND holder = ?s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_dialect() {
        let t = "UPDATE t SET a = ?, b = {now} WHERE c = ?s AND d = ?";
        assert_eq!(
            Dialect::Postgres.render(t),
            "UPDATE t SET a = $1, b = CURRENT_TIMESTAMP WHERE c = $2 AND d = $3"
        );
        assert_eq!(
            Dialect::MySql.render(t),
            "UPDATE t SET a = ?, b = CURRENT_TIMESTAMP(6) WHERE c = BINARY ? AND d = ?"
        );
        assert_eq!(
            Dialect::Sqlite.render(t),
            "UPDATE t SET a = ?, b = (strftime('%Y-%m-%d %H:%M:%f', 'now')) WHERE c = ? AND d = ?"
        );
    }

    #[test]
    fn token_update_compares_refresh_tokens_null_safe() {
        let rendered = |d| Queries::new(d).update_account_tokens;
        assert!(rendered(Dialect::Postgres).contains("refresh_token IS NOT DISTINCT FROM $10"));
        assert!(rendered(Dialect::MySql).contains("refresh_token <=> BINARY ?"));
        assert!(rendered(Dialect::Sqlite).contains("refresh_token IS ? RETURNING"));
    }

    #[test]
    fn every_query_renders_without_leftovers() {
        for d in [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite] {
            let q = format!("{:?}", Queries::new(d));
            assert!(!q.contains("{now}") && !q.contains("?s"), "{d}: {q}");
        }
    }
}
