//! A Redis of the test's own (`/usr/bin/redis-server`, in memory, on a free port), stopped
//! and started again: while it is down the limiter falls back and sessions are read from
//! the database; once it is back both use it again, having lost only counters and cached
//! copies.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_domain::effect::ThrottleCheck;
use portcullis_domain::model::{NewUser, Session};
use portcullis_domain::secret::SecretString;
use portcullis_ports::{InProcessLimiter, RateLimiter, Store};
use portcullis_redis::{RedisConnection, RedisRateLimiter, RedisSessionCache};
use portcullis_store_sled::SledStore;
use time::OffsetDateTime;

use crate::support::Watched;

/// A redis-server child on `port`, killed when dropped.
struct OwnRedis {
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("/usr/bin/redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/redis-server (bash .ci/services installs it)");
        OwnRedis { child }
    }

    fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `ready` until it holds, for at most ten seconds.
async fn eventually<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ready().await {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_counters_and_copies_only() {
    let port = free_port();
    let redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let connection = RedisConnection::open(&url, Duration::from_millis(500)).unwrap();
    eventually("redis-server answers", || async {
        connection.ping().await.is_ok()
    })
    .await;

    let fallback = Arc::new(InProcessLimiter::default());
    let limiter = RedisRateLimiter::new(connection.clone(), fallback.clone());
    let db = Watched::new(Arc::new(SledStore::temporary().unwrap()));
    let cache = RedisSessionCache::new(db.clone(), connection.clone());
    let jane = cache
        .create_user(NewUser {
            email: Some("jane@example.com".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let session = cache
        .create_session(Session {
            session_token: SecretString::new("sha256:restart"),
            user_id: jane.id.clone(),
            expires: OffsetDateTime::now_utc() + time::Duration::days(1),
            access_token: SecretString::new("a"),
            created: None,
        })
        .await
        .unwrap();
    let login = ThrottleCheck {
        key: "credentials:id:jane".into(),
        limit: 2,
        window_seconds: 600,
    };
    let now = OffsetDateTime::now_utc();
    assert!(limiter.try_hit(&login, now).await.unwrap());
    assert!(limiter.try_hit(&login, now).await.unwrap());
    assert!(
        !limiter.try_hit(&login, now).await.unwrap(),
        "counted in Redis"
    );
    let found = cache
        .get_session_and_user(&["sha256:restart"])
        .await
        .unwrap();
    cache
        .get_session_and_user(&["sha256:restart"])
        .await
        .unwrap();
    assert_eq!(db.lookups(), 1, "cached");

    redis.stop();
    assert!(limiter.try_hit(&login, now).await.is_err());
    assert!(
        limiter.hit(&login, now).await,
        "the fallback counts meanwhile"
    );
    assert_eq!(fallback.len(), 1);
    assert_eq!(
        cache
            .get_session_and_user(&["sha256:restart"])
            .await
            .unwrap(),
        found,
        "the session is read from the database"
    );
    assert_eq!(db.lookups(), 2);

    let _redis = OwnRedis::start(port);
    // The connection manager reconnects by itself; the pause after a failure is a second.
    eventually("the limiter counts in Redis again", || async {
        limiter.try_hit(&login, now).await.is_ok()
    })
    .await;
    assert!(
        limiter.try_hit(&login, now).await.unwrap(),
        "the restart lost the counter: a fresh window (one hit counted by the poll)"
    );
    assert!(!limiter.try_hit(&login, now).await.unwrap());
    eventually("session lookups use Redis again", || async {
        !connection.is_down()
    })
    .await;
    let before = db.lookups();
    assert_eq!(
        cache
            .get_session_and_user(&["sha256:restart"])
            .await
            .unwrap(),
        found
    );
    assert_eq!(
        cache
            .get_session_and_user(&["sha256:restart"])
            .await
            .unwrap(),
        found
    );
    assert_eq!(db.lookups(), before + 1, "read once, then cached again");
    assert_eq!(session.session_token.expose(), "sha256:restart");
}
