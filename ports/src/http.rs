//! The outbound HTTP port: performs a flow's [`HttpCall`] against a provider.
//!
//! [`HttpClient`] is the transport (adapter: `portcullis-http-reqwest`). [`CachingHttpClient`]
//! wraps any transport and honours the call's [`Cache`] mode for provider metadata
//! (discovery documents, key sets):
//!
//! - [`Cache::Use`]: a successful (2xx) answer younger than the TTL is served from memory;
//!   otherwise the provider is asked and a 2xx answer is kept.
//! - [`Cache::Refresh`]: the provider is asked again and the answer replaces the entry, but
//!   at most once per URL per refetch floor. Inside the floor the cached answer is served, so
//!   tokens with random `kid`s cannot make us fetch a JWKS on every request.
//! - [`Cache::Bypass`]: the cache is neither read nor written.
//! - [`Cache::Coalesce`]: never cached, but identical calls in flight at once share one
//!   request and its answer (a refresh grant: the provider honours a refresh token once).
//!
//! Only `GET`s without an `Authorization` header are cached: a `POST`'s answer depends on its
//! body, and an authorised answer belongs to one credential. Anything else passes through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures::channel::oneshot;
pub use portcullis_domain::http::{Cache, HttpCall, HttpFailure, HttpMethod, HttpResponse};
use time::OffsetDateTime;

use crate::Clock;

/// Sends one request to a provider. Implementations follow no redirect (a 3xx comes back as
/// an [`HttpResponse`]), bound the time and the body size, and never put a header value or a
/// body into a [`HttpFailure`].
#[async_trait]
pub trait HttpClient: Send + Sync {
    /// Sends `call` and returns the provider's answer, whatever its status.
    async fn send(&self, call: HttpCall) -> Result<HttpResponse, HttpFailure>;
}

#[async_trait]
impl<T: HttpClient + ?Sized> HttpClient for Arc<T> {
    async fn send(&self, call: HttpCall) -> Result<HttpResponse, HttpFailure> {
        (**self).send(call).await
    }
}

/// Limits of a [`CachingHttpClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long a 2xx answer may be served for [`Cache::Use`]. Default 1 h.
    pub ttl: Duration,
    /// The shortest interval between two fetches of one URL on [`Cache::Refresh`]. Default 30 s.
    pub refetch_floor: Duration,
    /// Entries kept at most; the oldest is dropped to make room. Default 256.
    pub max_entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60 * 60),
            refetch_floor: Duration::from_secs(30),
            max_entries: 256,
        }
    }
}

struct Entry {
    response: HttpResponse,
    /// When `response` arrived: its age for the TTL, and the eviction order.
    fetched_at: OffsetDateTime,
    /// When this URL was last fetched (or claimed for a fetch), successfully or not: the
    /// refetch floor counts from here.
    last_fetch: OffsetDateTime,
}

/// An [`HttpClient`] that keeps provider metadata in memory (see the module docs).
pub struct CachingHttpClient<C> {
    inner: C,
    clock: Arc<dyn Clock>,
    settings: CacheSettings,
    /// Keyed by URL: only `GET`s are cached. The lock is never held across an await.
    entries: Mutex<HashMap<String, Entry>>,
    inflight: InFlight,
}

impl<C: HttpClient> CachingHttpClient<C> {
    /// A cache with the default [`CacheSettings`].
    pub fn new(inner: C, clock: Arc<dyn Clock>) -> Self {
        Self::with_settings(inner, clock, CacheSettings::default())
    }

    /// A cache with `settings`.
    pub fn with_settings(inner: C, clock: Arc<dyn Clock>, settings: CacheSettings) -> Self {
        Self {
            inner,
            clock,
            settings,
            entries: Mutex::new(HashMap::new()),
            inflight: InFlight::default(),
        }
    }

    /// The wrapped client.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere cannot leave an entry half-written: every update is one insert or
        // one field store. Keep serving rather than propagate the poison.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer to serve without fetching, if any. When the caller must fetch and an
    /// entry exists, the fetch is claimed now (before any await), so concurrent refreshes of
    /// one URL inside the floor are served from cache instead of all fetching.
    fn lookup(&self, url: &str, mode: Cache, now: OffsetDateTime) -> Option<HttpResponse> {
        let mut entries = self.lock();
        let entry = entries.get_mut(url)?;
        let serve = match mode {
            Cache::Use => within(entry.fetched_at, now, self.settings.ttl),
            Cache::Refresh => within(entry.last_fetch, now, self.settings.refetch_floor),
            Cache::Bypass | Cache::Coalesce => false,
        };
        if serve {
            return Some(entry.response.clone());
        }
        entry.last_fetch = now;
        None
    }

    fn store(&self, url: String, response: &HttpResponse, now: OffsetDateTime) {
        if self.settings.max_entries == 0 {
            return;
        }
        let mut entries = self.lock();
        if !entries.contains_key(&url) {
            while entries.len() >= self.settings.max_entries {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.fetched_at)
                    .map(|(k, _)| k.clone());
                match oldest {
                    Some(key) => entries.remove(&key),
                    None => break,
                };
            }
        }
        entries.insert(
            url,
            Entry {
                response: response.clone(),
                fetched_at: now,
                last_fetch: now,
            },
        );
    }
}

/// `then` is at most `limit` before `now`. A clock that went backwards counts as outside,
/// so a wrong clock leads to a fetch rather than an answer kept forever.
fn within(then: OffsetDateTime, now: OffsetDateTime, limit: Duration) -> bool {
    let age = now - then;
    !age.is_negative() && age < limit
}

fn cacheable(call: &HttpCall) -> bool {
    matches!(call.cache, Cache::Use | Cache::Refresh)
        && call.method == HttpMethod::Get
        && !call
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
}

type Answer = Result<HttpResponse, HttpFailure>;

/// Calls in flight that others may join ([`Cache::Coalesce`]): per call, the waiters.
#[derive(Default)]
struct InFlight(Mutex<HashMap<String, Vec<oneshot::Sender<Answer>>>>);

/// Removes a leader's entry when it finishes — or is dropped mid-call, so its waiters get
/// an error instead of waiting forever.
struct Leading<'a> {
    inflight: &'a InFlight,
    key: String,
}

impl Leading<'_> {
    fn finish(self, answer: &Answer) {
        for waiter in self.take() {
            let _ = waiter.send(answer.clone());
        }
    }

    fn take(&self) -> Vec<oneshot::Sender<Answer>> {
        let mut map = self
            .inflight
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.remove(&self.key).unwrap_or_default()
    }
}

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        // After `finish` the entry is gone and this is a no-op; otherwise the waiters'
        // senders are dropped here and they see the call was abandoned.
        drop(self.take());
    }
}

impl<C: HttpClient> CachingHttpClient<C> {
    /// Sends `call`, or joins an identical call already in flight.
    async fn send_coalesced(&self, call: HttpCall) -> Answer {
        // The whole request is the key (it holds the refresh token): kept in memory only.
        let key = format!(
            "{:?} {}\n{}\n{}",
            call.method,
            call.url,
            call.headers
                .iter()
                .map(|(n, v)| format!("{n}: {}", v.expose()))
                .collect::<Vec<_>>()
                .join("\n"),
            call.body.as_ref().map(|b| b.expose()).unwrap_or_default()
        );
        let waiting = {
            let mut map = self
                .inflight
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match map.get_mut(&key) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    map.insert(key.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiting {
            return rx.await.unwrap_or_else(|_| {
                Err(HttpFailure::Transport(
                    "the shared request was abandoned".into(),
                ))
            });
        }
        let leading = Leading {
            inflight: &self.inflight,
            key,
        };
        let answer = self.inner.send(call).await;
        leading.finish(&answer);
        answer
    }
}

#[async_trait]
impl<C: HttpClient> HttpClient for CachingHttpClient<C> {
    async fn send(&self, call: HttpCall) -> Result<HttpResponse, HttpFailure> {
        if call.cache == Cache::Coalesce {
            return self.send_coalesced(call).await;
        }
        if !cacheable(&call) {
            return self.inner.send(call).await;
        }
        let url = call.url.clone();
        let now = self.clock.now();
        if let Some(cached) = self.lookup(&url, call.cache, now) {
            return Ok(cached);
        }
        let answer = self.inner.send(call).await;
        if let Ok(response) = &answer {
            if response.is_success() {
                self.store(url, response, self.clock.now());
            }
        }
        answer
    }
}

#[cfg(test)]
mod tests;
