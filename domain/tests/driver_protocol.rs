#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! A driver that answers another question than the one asked breaks the protocol: the run
//! ends on a fault (500, logged by the driver) and no flow ever sees the answer. A store
//! that fails is no such thing: the flow answers it as designed.

use bytes::Bytes;
use portcullis_domain::effect::{Effect, Outcome};
use portcullis_domain::store::{StoreError, StoreOp, StoreReply};
use portcullis_domain::{Config, Engine, Env, SessionStrategy, Step};
use rand_chacha::rand_core::SeedableRng;

fn engine() -> Engine {
    Engine::new(
        Config::builder()
            .url("https://example.com/api/auth")
            .secret("driver-protocol-secret-0123456789abcdef0123")
            .session_strategy(SessionStrategy::Database)
            .build()
            .unwrap(),
    )
}

/// A database-session read whose one store lookup is answered with `answer`; the response
/// and the run's fault.
fn read_answered_with(answer: Outcome) -> (http::Response<String>, Option<String>) {
    let request = http::Request::get("/api/auth/session")
        .header("cookie", "__Secure-next-auth.session-token=tok")
        .body(Bytes::new())
        .unwrap();
    let mut run = engine().begin(
        &request,
        Env {
            now: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000),
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(3)),
            client_ip: None,
        },
    );
    let Step::Effect(Effect::Store(StoreOp::GetSessionAndUser(_))) = run.step() else {
        panic!("the read asks the store first");
    };
    run.resume(answer);
    let Step::Done(response) = run.step() else {
        panic!("one answer ends the read");
    };
    (response, run.fault().map(str::to_owned))
}

#[test]
fn an_answer_of_another_kind_ends_the_run_on_a_fault() {
    let (response, fault) = read_answered_with(Outcome::Throttle(true));
    assert_eq!(response.status(), 500);
    assert!(fault.unwrap().contains("does not answer"));
}

#[test]
fn a_store_reply_of_another_shape_ends_the_run_on_a_fault() {
    let (response, fault) = read_answered_with(Outcome::Store(Ok(StoreReply::Done)));
    assert_eq!(response.status(), 500);
    assert!(fault.unwrap().contains("does not answer"));
}

#[test]
fn a_failed_store_is_answered_by_the_flow_not_a_fault() {
    let failed = Outcome::Store(Err(StoreError::Backend("down".into())));
    let (response, fault) = read_answered_with(failed);
    assert_eq!(fault, None);
    assert_eq!(response.status(), 503, "the store is out, not the session");
    assert_eq!(response.body(), "{}");
}

#[test]
fn an_outcome_with_nothing_pending_is_a_fault() {
    let request = http::Request::get("/api/auth/csrf")
        .body(Bytes::new())
        .unwrap();
    let mut run = engine().begin(
        &request,
        Env {
            now: time::OffsetDateTime::UNIX_EPOCH,
            rng: Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(3)),
            client_ip: None,
        },
    );
    assert!(matches!(run.step(), Step::Done(_)));
    run.resume(Outcome::Throttle(true));
    let Step::Done(response) = run.step() else {
        panic!("a finished run stays finished");
    };
    assert_eq!(response.status(), 500);
    assert!(run.fault().unwrap().contains("no effect pending"));
}
