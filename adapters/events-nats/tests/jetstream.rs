//! The sink against the machine's NATS JetStream (127.0.0.1:4222), with a stream and subject
//! of its own per test: each event stored once with its id as `Nats-Msg-Id`, repeats
//! de-duplicated by the stream, and what is not stored by the configured stream kept in the
//! outbox. Passes are run by hand and the clock is moved by hand: no sleeping.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use async_nats::jetstream;
use portcullis_events_nats::NatsSink;
use portcullis_hooks_http::events::{EventSink, Pass};
use portcullis_ports::{EventListener, Outbox, OutboxEntry};
use serde_json::json;

use support::*;

#[tokio::test]
async fn each_event_is_stored_once_with_its_id_as_nats_msg_id() {
    let names = names();
    let (events, outbox, _clock) = setup(settings(NATS, &names, true));
    let mut ids = Vec::new();
    for user in ["1", "2", "3"] {
        ids.push(events.recorder().record(&sign_in(user)).await.unwrap());
    }
    let pass = events.delivery().deliver_due().await.unwrap();
    assert_eq!(
        pass,
        Pass {
            delivered: 3,
            failed: 0
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 0);
    // Nothing is due any more: a second pass sends nothing.
    assert_eq!(
        events.delivery().deliver_due().await.unwrap(),
        Pass::default()
    );

    let admin = admin(NATS).await;
    let got = stored(&admin, &names.stream).await;
    delete(&admin, &names.stream).await;
    let mut got_ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
    got_ids.sort_unstable();
    ids.sort();
    assert_eq!(got_ids, ids);
    for message in &got {
        assert!(message.id.starts_with("msg_"));
        assert_eq!(message.content_type, "application/json");
        assert_eq!(message.body["type"], "event");
        assert_eq!(message.body["data"]["event"], "signIn");
        assert_eq!(message.body["data"]["id"], message.id.as_str());
        assert_eq!(message.body["data"]["account"]["provider"], "github");
        assert!(!message.body.to_string().contains("SECRET"));
    }
}

#[tokio::test]
async fn a_repeated_publish_of_one_event_is_stored_once() {
    let names = names();
    let sink = NatsSink::new(settings(NATS, &names, true)).unwrap();
    let entry = |id: &str| OutboxEntry {
        id: id.to_owned(),
        payload: json!({"type": "event", "data": {"id": id}}).to_string(),
        attempts: 0,
    };
    let first = unique("msg_first");
    // A retry after a lost ack sends the same event again: the stream drops it.
    sink.send(&entry(&first)).await.unwrap();
    sink.send(&entry(&first)).await.unwrap();
    sink.send(&entry(&first)).await.unwrap();
    let admin = admin(NATS).await;
    let once = stored(&admin, &names.stream).await;
    // Another event is stored beside it.
    let second = unique("msg_second");
    sink.send(&entry(&second)).await.unwrap();
    let both = stored(&admin, &names.stream).await;
    delete(&admin, &names.stream).await;
    assert_eq!(once.len(), 1, "{once:?}");
    assert_eq!(once[0].id, first);
    let ids: Vec<&str> = both.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
}

#[tokio::test]
async fn without_a_stream_for_the_subject_the_event_waits_in_the_outbox() {
    let names = names();
    // No stream configured, and none takes the subject yet.
    let (events, outbox, clock) = setup(settings(NATS, &names, false));
    events.recorder().event(sign_in("7")).await;
    let pass = events.delivery().deliver_due().await.unwrap();
    assert_eq!(
        pass,
        Pass {
            delivered: 0,
            failed: 1
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 1);

    // The operator creates the stream: the retry is stored.
    let admin = admin(NATS).await;
    admin
        .create_stream(jetstream::stream::Config {
            name: names.stream.clone(),
            subjects: vec![format!("{}.>", names.subject), names.subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    clock.advance(BACKOFF.max);
    let pass = events.delivery().deliver_due().await.unwrap();
    let got = stored(&admin, &names.stream).await;
    delete(&admin, &names.stream).await;
    assert_eq!(
        pass,
        Pass {
            delivered: 1,
            failed: 0
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 0);
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn a_configured_stream_that_does_not_take_the_subject_is_not_a_delivery() {
    let names = names();
    let admin = admin(NATS).await;
    // The stream exists, made by someone else for other subjects; another stream takes
    // the events' subject.
    admin
        .create_stream(jetstream::stream::Config {
            name: names.stream.clone(),
            subjects: vec![format!("{}.other", names.subject)],
            ..Default::default()
        })
        .await
        .unwrap();
    let catch_all = unique("PORTCULLIS_TEST_OTHER");
    admin
        .create_stream(jetstream::stream::Config {
            name: catch_all.clone(),
            subjects: vec![names.subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let (events, outbox, _clock) = setup(settings(NATS, &names, true));
    events.recorder().event(sign_in("7")).await;
    let failure = events.delivery();
    let pass = failure.deliver_due().await.unwrap();
    let ours = stored(&admin, &names.stream).await;
    let theirs = stored(&admin, &catch_all).await;
    delete(&admin, &names.stream).await;
    delete(&admin, &catch_all).await;
    assert_eq!(
        pass,
        Pass {
            delivered: 0,
            failed: 1
        }
    );
    assert_eq!(outbox.count().await.unwrap(), 1);
    assert!(ours.is_empty() && theirs.is_empty(), "{ours:?} {theirs:?}");
}
