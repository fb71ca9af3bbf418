//! Tests of the caching client: what is cached and for how long, and concurrent
//! identical calls sharing one request.

use super::*;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use tokio::sync::Semaphore;

const URL: &str = "https://issuer.example/.well-known/jwks.json";

/// Counts calls; answers call `n` (from 1) with `answers(n)`. Call `gated_call`, if set,
/// waits for a permit on `gate` first.
struct Fake {
    calls: AtomicUsize,
    answers: fn(usize) -> Result<HttpResponse, HttpFailure>,
    gate: Semaphore,
    gated_call: Option<usize>,
}

impl Fake {
    fn new(answers: fn(usize) -> Result<HttpResponse, HttpFailure>) -> Arc<Self> {
        Arc::new(Self {
            calls: AtomicUsize::new(0),
            answers,
            gate: Semaphore::new(0),
            gated_call: None,
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl HttpClient for Fake {
    async fn send(&self, _call: HttpCall) -> Result<HttpResponse, HttpFailure> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if self.gated_call == Some(n) {
            let _permit = self.gate.acquire().await;
        }
        (self.answers)(n)
    }
}

fn ok(body: String) -> Result<HttpResponse, HttpFailure> {
    Ok(HttpResponse {
        status: 200,
        content_type: Some("application/json".into()),
        headers: Vec::new(),
        body: body.into(),
    })
}

/// Answers `v1`, `v2`, … so a test can tell which fetch an answer came from.
fn numbered(n: usize) -> Result<HttpResponse, HttpFailure> {
    ok(format!("v{n}"))
}

/// A clock the test moves by hand.
#[derive(Clone, Default)]
struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
            + time::Duration::days(20_000)
            + time::Duration::seconds(self.0.load(Ordering::SeqCst))
    }
}

fn cache(fake: &Arc<Fake>, clock: &FakeClock) -> CachingHttpClient<Arc<Fake>> {
    CachingHttpClient::new(fake.clone(), Arc::new(clock.clone()))
}

async fn body(client: &impl HttpClient, call: HttpCall) -> String {
    let response = client.send(call).await.unwrap();
    String::from_utf8(response.body.to_vec()).unwrap()
}

fn get(mode: Cache) -> HttpCall {
    HttpCall::get(URL).cache(mode)
}

#[tokio::test]
async fn use_serves_a_fresh_answer_and_refetches_after_the_ttl() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(3599);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    assert_eq!(fake.calls(), 1);
    clock.advance(1);
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn ttl_is_configurable() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let settings = CacheSettings {
        ttl: Duration::from_secs(10),
        ..CacheSettings::default()
    };
    let client = CachingHttpClient::with_settings(fake.clone(), Arc::new(clock.clone()), settings);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(10);
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
}

#[tokio::test]
async fn failures_and_non_2xx_answers_are_not_cached() {
    fn answers(n: usize) -> Result<HttpResponse, HttpFailure> {
        match n {
            1 => Err(HttpFailure::Timeout),
            2 => Ok(HttpResponse {
                status: 503,
                content_type: None,
                headers: Vec::new(),
                body: Default::default(),
            }),
            _ => numbered(n),
        }
    }
    let (fake, clock) = (Fake::new(answers), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(
        client.send(get(Cache::Use)).await,
        Err(HttpFailure::Timeout)
    );
    assert_eq!(client.send(get(Cache::Use)).await.unwrap().status, 503);
    assert_eq!(body(&client, get(Cache::Use)).await, "v3");
    assert_eq!(body(&client, get(Cache::Use)).await, "v3");
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn refresh_inside_the_floor_is_served_from_cache() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(29);
    for _ in 0..10 {
        assert_eq!(body(&client, get(Cache::Refresh)).await, "v1");
    }
    assert_eq!(fake.calls(), 1);
    clock.advance(1);
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v2");
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v2");
    // The refreshed answer replaced the entry for `Use` too.
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn refresh_without_an_entry_fetches_and_fills_the_cache() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v1");
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v1");
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn refetch_floor_is_configurable() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let settings = CacheSettings {
        refetch_floor: Duration::from_secs(5),
        ..CacheSettings::default()
    };
    let client = CachingHttpClient::with_settings(fake.clone(), Arc::new(clock.clone()), settings);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(4);
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v1");
    clock.advance(1);
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v2");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_answer_and_still_counts_for_the_floor() {
    fn answers(n: usize) -> Result<HttpResponse, HttpFailure> {
        match n {
            2 => Err(HttpFailure::Connect),
            _ => numbered(n),
        }
    }
    let (fake, clock) = (Fake::new(answers), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(30);
    assert_eq!(
        client.send(get(Cache::Refresh)).await,
        Err(HttpFailure::Connect)
    );
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(29);
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v1");
    assert_eq!(fake.calls(), 2);
    clock.advance(1);
    assert_eq!(body(&client, get(Cache::Refresh)).await, "v3");
}

#[tokio::test]
async fn concurrent_refreshes_inside_the_floor_fetch_once() {
    let fake = Arc::new(Fake {
        calls: AtomicUsize::new(0),
        answers: numbered,
        gate: Semaphore::new(0),
        gated_call: Some(2),
    });
    let clock = FakeClock::default();
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(60);
    // The first refresh waits inside the provider call; the second arrives meanwhile.
    let (first, second) = tokio::join!(body(&client, get(Cache::Refresh)), async {
        let answer = body(&client, get(Cache::Refresh)).await;
        fake.gate.add_permits(1);
        answer
    });
    assert_eq!((first.as_str(), second.as_str()), ("v2", "v1"));
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn bypass_never_reads_or_writes_the_cache() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Bypass)).await, "v1");
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
    assert_eq!(body(&client, get(Cache::Bypass)).await, "v3");
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
    assert_eq!(fake.calls(), 3);
}

#[tokio::test]
async fn urls_are_cached_separately() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    let other = || HttpCall::get("https://issuer.example/.well-known/openid-configuration");
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    assert_eq!(body(&client, other().cache(Cache::Use)).await, "v2");
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    assert_eq!(body(&client, other().cache(Cache::Use)).await, "v2");
}

#[tokio::test]
async fn posts_and_authorised_calls_pass_through() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    let post = || HttpCall::post_form(URL, &[("code", "c")]).cache(Cache::Use);
    let authorised = || get(Cache::Use).header("Authorization", "Bearer t");
    assert_eq!(body(&client, post()).await, "v1");
    assert_eq!(body(&client, post()).await, "v2");
    assert_eq!(body(&client, authorised()).await, "v3");
    assert_eq!(body(&client, authorised()).await, "v4");
    // Neither filled the entry a plain GET would use.
    assert_eq!(body(&client, get(Cache::Use)).await, "v5");
}

#[tokio::test]
async fn the_oldest_entry_is_dropped_at_capacity() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let settings = CacheSettings {
        max_entries: 2,
        ..CacheSettings::default()
    };
    let client = CachingHttpClient::with_settings(fake.clone(), Arc::new(clock.clone()), settings);
    let at = |n: u8| HttpCall::get(format!("https://issuer.example/{n}")).cache(Cache::Use);
    assert_eq!(body(&client, at(1)).await, "v1");
    clock.advance(1);
    assert_eq!(body(&client, at(2)).await, "v2");
    clock.advance(1);
    assert_eq!(body(&client, at(3)).await, "v3");
    assert_eq!(client.lock().len(), 2);
    assert_eq!(body(&client, at(2)).await, "v2");
    assert_eq!(body(&client, at(3)).await, "v3");
    assert_eq!(body(&client, at(1)).await, "v4");
    assert_eq!(fake.calls(), 4);
}

#[tokio::test]
async fn a_clock_that_went_backwards_leads_to_a_fetch() {
    let (fake, clock) = (Fake::new(numbered), FakeClock::default());
    let client = cache(&fake, &clock);
    assert_eq!(body(&client, get(Cache::Use)).await, "v1");
    clock.advance(-1);
    assert_eq!(body(&client, get(Cache::Use)).await, "v2");
}

fn refresh_grant(token: &str) -> HttpCall {
    HttpCall::post_form(
        "https://issuer.example/token",
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .cache(Cache::Coalesce)
}

fn gated_on_first_call() -> Arc<Fake> {
    Arc::new(Fake {
        calls: AtomicUsize::new(0),
        answers: numbered,
        gate: Semaphore::new(0),
        gated_call: Some(1),
    })
}

#[tokio::test]
async fn identical_calls_in_flight_share_one_request() {
    let fake = gated_on_first_call();
    let client = cache(&fake, &FakeClock::default());
    // The first grant waits inside the provider; the second, identical, joins it.
    let (first, second) = tokio::join!(body(&client, refresh_grant("rt-1")), async {
        tokio::task::yield_now().await;
        let joined = body(&client, refresh_grant("rt-1"));
        let release = async {
            tokio::task::yield_now().await;
            fake.gate.add_permits(1);
        };
        tokio::join!(joined, release).0
    });
    assert_eq!((first.as_str(), second.as_str()), ("v1", "v1"));
    assert_eq!(fake.calls(), 1);
    // Finished calls are not cached: the next grant is a new request.
    assert_eq!(body(&client, refresh_grant("rt-1")).await, "v2");
    assert!(client.inflight.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn different_calls_do_not_share() {
    let fake = gated_on_first_call();
    let client = cache(&fake, &FakeClock::default());
    let (first, second) = tokio::join!(body(&client, refresh_grant("rt-1")), async {
        let other = body(&client, refresh_grant("rt-2")).await;
        fake.gate.add_permits(1);
        other
    });
    assert_eq!((first.as_str(), second.as_str()), ("v1", "v2"));
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn waiters_of_an_abandoned_call_get_an_error_not_a_hang() {
    let fake = gated_on_first_call();
    let client = cache(&fake, &FakeClock::default());
    let leader = client.send(refresh_grant("rt-1"));
    let follower = client.send(refresh_grant("rt-1"));
    // Start the leader (it blocks at the gate), then the follower joins; then drop the
    // leader mid-call.
    let mut leader = Box::pin(leader);
    assert!(futures::poll!(leader.as_mut()).is_pending());
    let mut follower = Box::pin(follower);
    assert!(futures::poll!(follower.as_mut()).is_pending());
    drop(leader);
    assert_eq!(
        follower.await,
        Err(HttpFailure::Transport(
            "the shared request was abandoned".into()
        ))
    );
    assert!(client.inflight.0.lock().unwrap().is_empty());
}
