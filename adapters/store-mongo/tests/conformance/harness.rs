//! A database of its own per test on the MongoDB-wire server, with the indexes, dropped
//! when the test ends; one reachability check per binary.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use portcullis_store_mongo::MongoStore;
use tokio::sync::OnceCell;

pub(crate) const DEFAULT_URL: &str = "mongodb://127.0.0.1:27018";

pub(crate) fn url() -> String {
    std::env::var("MONGODB_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

/// Whether a server answers, asked once per test binary: without one every test fails
/// at once with the same message, instead of each waiting out its own timeout.
static SERVER: OnceCell<Result<(), String>> = OnceCell::const_new();

async fn require_server(url: &str) {
    let answer = SERVER
        .get_or_init(|| async {
            // The driver's default server selection waits 30 s; a missing server should
            // fail the run at once.
            let mut options = mongodb::options::ClientOptions::parse(url)
                .await
                .map_err(|e| e.kind.to_string())?;
            if options.server_selection_timeout.is_none() {
                options.server_selection_timeout = Some(Duration::from_secs(3));
            }
            let client = mongodb::Client::with_options(options).map_err(|e| e.kind.to_string())?;
            client
                .database("admin")
                .run_command(mongodb::bson::doc! { "ping": 1 })
                .await
                .map(drop)
                .map_err(|e| e.kind.to_string())
        })
        .await;
    if let Err(why) = answer {
        panic!(
            "no MongoDB-wire server answers at {url} ({why}). Run `bash .ci/mongo` first \
             (it starts nx-27017 at {DEFAULT_URL}), or set MONGODB_URL to a MongoDB server."
        );
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn fresh_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "portcullis_t{}_{n}_{:06x}",
        std::process::id(),
        nanos & 0xff_ffff
    )
}

/// A store in a database of its own, with the indexes; the database is dropped when
/// the store is (at the end of the test, also when it panicked).
pub(crate) type TestStore = portcullis_store_conformance::WithCleanup<MongoStore, DropDatabase>;

/// Drops the test database when dropped.
pub(crate) struct DropDatabase {
    url: String,
    name: String,
}

pub(crate) async fn fresh() -> TestStore {
    let url = url();
    require_server(&url).await;
    let name = fresh_name();
    let store = MongoStore::connect(&url, &name)
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    let test_store = TestStore::new(store, DropDatabase { url, name });
    test_store
        .store
        .ensure_indexes()
        .await
        .unwrap_or_else(|e| panic!("ensure_indexes: {e}"));
    test_store
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        // On a thread of its own with its own runtime and client: this may run while
        // the test's runtime unwinds or shuts down. Failures are ignored (best effort).
        let url = self.url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(10), async {
                    if let Ok(client) = mongodb::Client::with_uri_str(&url).await {
                        let _ = client.database(&name).drop().await;
                    }
                })
                .await;
            });
        });
        let _ = dropper.join();
    }
}
