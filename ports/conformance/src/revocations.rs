//! JWT revocations (`jwt.revocable`): byte-exact, idempotent, expired ones dropped.

use std::sync::Arc;

use portcullis_ports::Store;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::fixtures::*;

/// Instants for revocations: whole milliseconds inside every store's range.
const REVOKED_UNTIL: OffsetDateTime = datetime!(2031-03-04 05:06:07.008 UTC);
const REVOKED_AT: OffsetDateTime = datetime!(2031-03-04 04:06:07.008 UTC);

/// A revoked `jti` reads as revoked; an unknown one, or one differing in case or by a
/// trailing space, does not; revoking one `jti` revokes no other.
pub async fn revoked_jwt_reads_revoked(store: Arc<dyn Store>) {
    let jti = "3f2b8c1e-6d4a-4f7b-9e21-0c5d7a8b9e10";
    assert!(
        !ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
        "store failed: a jti nobody revoked must not read as revoked"
    );
    ok(
        store.revoke_jwt(jti, REVOKED_UNTIL, REVOKED_AT).await,
        "revoke_jwt",
    );
    assert!(
        ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
        "store failed: is_jwt_revoked must be true after revoke_jwt"
    );
    for other in [
        "3F2B8C1E-6D4A-4F7B-9E21-0C5D7A8B9E10",
        "3f2b8c1e-6d4a-4f7b-9e21-0c5d7a8b9e10 ",
        "3f2b8c1e-6d4a-4f7b-9e21-0c5d7a8b9e1",
        "",
    ] {
        assert!(
            !ok(store.is_jwt_revoked(other).await, "is_jwt_revoked"),
            "store failed: revocations must match the jti byte for byte: {other:?} reads revoked"
        );
    }
    // Revocations are not sessions: no session store operation sees them.
    let user = ok(
        store.create_user(new_user("Revoker", None)).await,
        "create_user",
    );
    assert_eq!(
        ok(store.list_sessions(&user.id).await, "list_sessions"),
        vec![],
        "store failed: a revocation must not appear as a session"
    );
}

/// Revoking a revoked `jti` again is not an error (sign-out may be repeated, or race with
/// itself), and it stays revoked.
pub async fn revoke_jwt_twice_is_fine(store: Arc<dyn Store>) {
    let jti = "twice";
    ok(
        store.revoke_jwt(jti, REVOKED_UNTIL, REVOKED_AT).await,
        "revoke_jwt",
    );
    ok(
        store
            .revoke_jwt(jti, REVOKED_UNTIL, REVOKED_AT + Duration::minutes(1))
            .await,
        "revoke_jwt of a revoked jti",
    );
    assert!(
        ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
        "store failed: a jti revoked twice must read as revoked"
    );
    let results = race(
        &store,
        8,
        "racing revoke_jwt of one jti",
        |store, _| async move { store.revoke_jwt("raced", REVOKED_UNTIL, REVOKED_AT).await },
    )
    .await;
    for result in results {
        ok(result, "racing revoke_jwt of one jti (each must succeed)");
    }
    assert!(
        ok(store.is_jwt_revoked("raced").await, "is_jwt_revoked"),
        "store failed: a jti revoked by racing calls must read as revoked"
    );
}

/// `revoke_jwt` drops the revocations whose `expires` is before its `now` (their tokens
/// are refused as expired anyway) and keeps the others, one expiring at `now` included.
pub async fn revoke_jwt_drops_expired_revocations(store: Arc<dyn Store>) {
    let early = REVOKED_UNTIL;
    let at_now = REVOKED_UNTIL + Duration::hours(1);
    let late = REVOKED_UNTIL + Duration::days(1);
    ok(
        store.revoke_jwt("early", early, REVOKED_AT).await,
        "revoke_jwt",
    );
    ok(
        store.revoke_jwt("at-now", at_now, REVOKED_AT).await,
        "revoke_jwt",
    );
    ok(
        store.revoke_jwt("late", late, REVOKED_AT).await,
        "revoke_jwt",
    );
    for jti in ["early", "at-now", "late"] {
        assert!(
            ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
            "store failed: {jti:?} must read as revoked before anything expired"
        );
    }
    // A later revocation, at an instant after `early` expired.
    ok(
        store.revoke_jwt("later", late, at_now).await,
        "revoke_jwt (later)",
    );
    assert!(
        !ok(store.is_jwt_revoked("early").await, "is_jwt_revoked"),
        "store failed: revoke_jwt must drop the revocations that expired before its `now`"
    );
    for jti in ["at-now", "late", "later"] {
        assert!(
            ok(store.is_jwt_revoked(jti).await, "is_jwt_revoked"),
            "store failed: revoke_jwt must keep {jti:?}, which has not expired at its `now`"
        );
    }
    // A revoked jti whose revocation was dropped can be revoked again.
    ok(
        store.revoke_jwt("early", late, at_now).await,
        "revoke_jwt of a jti whose revocation was dropped",
    );
    assert!(
        ok(store.is_jwt_revoked("early").await, "is_jwt_revoked"),
        "store failed: a jti revoked again after its revocation was dropped must read revoked"
    );
}
