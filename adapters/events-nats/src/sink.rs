//! The sink: publish with the event id as `Nats-Msg-Id`, delivered once the stream acks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::header::{NATS_EXPECTED_STREAM, NATS_MESSAGE_ID};
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use async_nats::{ConnectOptions, HeaderMap};
use async_trait::async_trait;
use portcullis_hooks_http::events::EventSink;
use portcullis_ports::OutboxEntry;
use tokio::sync::OnceCell;

use crate::servers::{Credentials, Servers};
use crate::subject;

/// Where events are published.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsSettings {
    /// `nats://[user:password@]host[:port]` (or `nats://token@host`, `tls://…`); several
    /// comma-separated for a cluster. Redacted in `Debug`.
    pub url: String,
    /// The subject each event is published to.
    pub subject: String,
    /// The stream to create if it is missing and to require as the one storing events;
    /// `None`: a stream taking `subject` must exist already (any one).
    pub stream: Option<StreamSettings>,
    /// Bound on connecting and on readying the stream.
    pub timeout: Duration,
}

impl std::fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSettings")
            .field("url", &crate::redact(&self.url))
            .field("subject", &self.subject)
            .field("stream", &self.stream)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The stream events go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSettings {
    /// Its name (`PORTCULLIS_EVENTS`).
    pub name: String,
    /// The subjects it takes when this sink creates it (an existing stream keeps its own);
    /// they must take the events' subject.
    pub subjects: Vec<String>,
}

/// A setting that cannot work, with the key it is about (`url`, `subject`, `stream`,
/// `subjects`). Never shows a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    /// The setting's key.
    pub key: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}

impl std::error::Error for InvalidSetting {}

fn invalid(key: &'static str, reason: impl Into<String>) -> InvalidSetting {
    InvalidSetting {
        key,
        reason: reason.into(),
    }
}

/// Publishes events to NATS JetStream (see the crate docs).
pub struct NatsSink {
    servers: Servers,
    subject: String,
    stream: Option<StreamSettings>,
    timeout: Duration,
    for_logs: String,
    jetstream: OnceCell<jetstream::Context>,
    /// The stream was found or created and takes the subject.
    stream_ready: AtomicBool,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("servers", &self.servers.for_logs())
            .field("subject", &self.subject)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl NatsSink {
    /// A sink for `settings`, checked; it connects on first use.
    pub fn new(settings: NatsSettings) -> Result<Self, InvalidSetting> {
        let servers = Servers::parse(&settings.url).map_err(|reason| invalid("url", reason))?;
        if !subject::is_publish_subject(&settings.subject) {
            return Err(invalid(
                "subject",
                "must be dot-separated tokens without spaces or wildcards (portcullis.events)",
            ));
        }
        if let Some(stream) = &settings.stream {
            check_stream(stream, &settings.subject)?;
        }
        if settings.timeout.is_zero() {
            return Err(invalid("timeout", "must be more than zero"));
        }
        let for_logs = format!("{} subject {}", servers.for_logs(), settings.subject);
        Ok(Self {
            servers,
            subject: settings.subject,
            stream: settings.stream,
            timeout: settings.timeout,
            for_logs,
            jetstream: OnceCell::new(),
            stream_ready: AtomicBool::new(false),
        })
    }

    /// The JetStream context, connecting first if there is none yet.
    async fn context(&self) -> Result<&jetstream::Context, String> {
        self.jetstream
            .get_or_try_init(|| async {
                let options = ConnectOptions::new()
                    .name("portcullis")
                    .connection_timeout(self.timeout)
                    .request_timeout(Some(self.timeout));
                let options = match &self.servers.credentials {
                    Some(Credentials::UserPassword { user, password }) => {
                        options.user_and_password(user.clone(), password.clone())
                    }
                    Some(Credentials::Token(token)) => options.token(token.clone()),
                    None => options,
                };
                let client = tokio::time::timeout(
                    self.timeout,
                    options.connect(self.servers.addresses.clone()),
                )
                .await
                .map_err(|_| "cannot connect: timed out".to_owned())?
                .map_err(|e| format!("cannot connect: {e}"))?;
                tracing::info!(
                    target: "portcullis::events",
                    servers = %self.servers.for_logs(),
                    "connected to NATS"
                );
                let mut context = jetstream::new(client);
                context.set_timeout(self.timeout);
                Ok(context)
            })
            .await
    }

    /// Finds or creates the configured stream once, and checks that it takes the subject.
    async fn ready_stream(&self, context: &jetstream::Context) -> Result<(), String> {
        let Some(settings) = &self.stream else {
            return Ok(());
        };
        if self.stream_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let config = stream::Config {
            name: settings.name.clone(),
            subjects: settings.subjects.clone(),
            ..stream::Config::default()
        };
        let stream = context
            .get_or_create_stream(config)
            .await
            .map_err(|e| format!("stream {}: {e}", settings.name))?;
        let subjects = &stream.cached_info().config.subjects;
        if !subjects.iter().any(|f| subject::matches(f, &self.subject)) {
            return Err(format!(
                "stream {} does not take subject {} (its subjects: {})",
                settings.name,
                self.subject,
                subjects.join(", ")
            ));
        }
        self.stream_ready.store(true, Ordering::Release);
        Ok(())
    }
}

fn check_stream(stream: &StreamSettings, subject: &str) -> Result<(), InvalidSetting> {
    let name_ok = !stream.name.is_empty()
        && !stream
            .name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ".*>/\\".contains(c));
    if !name_ok {
        return Err(invalid(
            "stream",
            "must be a name without spaces, `.`, `*`, `>`, `/` or `\\` (PORTCULLIS_EVENTS)",
        ));
    }
    if stream.subjects.is_empty() {
        return Err(invalid("subjects", "must list at least one subject"));
    }
    if let Some(bad) = stream.subjects.iter().find(|f| !subject::is_filter(f)) {
        return Err(invalid(
            "subjects",
            format!("`{bad}` is not a subject filter"),
        ));
    }
    if !stream.subjects.iter().any(|f| subject::matches(f, subject)) {
        return Err(invalid(
            "subjects",
            format!("none takes the subject `{subject}`"),
        ));
    }
    Ok(())
}

#[async_trait]
impl EventSink for NatsSink {
    fn url_for_logs(&self) -> &str {
        &self.for_logs
    }

    async fn prepare(&self) -> Result<(), String> {
        let context = self.context().await?;
        self.ready_stream(context).await
    }

    async fn send(&self, entry: &OutboxEntry) -> Result<(), String> {
        let context = self.context().await?;
        self.ready_stream(context).await?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, entry.id.as_str());
        headers.insert("Content-Type", "application/json");
        if let Some(stream) = &self.stream {
            // Stored by another stream that also takes the subject is not delivered.
            headers.insert(NATS_EXPECTED_STREAM, stream.name.as_str());
        }
        let payload = bytes::Bytes::from(entry.payload.clone());
        let published = async {
            context
                .publish_with_headers(self.subject.clone(), headers, payload)
                .await?
                .await
        };
        match published.await {
            Ok(ack) => {
                tracing::debug!(
                    target: "portcullis::events",
                    id = %entry.id,
                    stream = %ack.stream,
                    sequence = ack.sequence,
                    duplicate = ack.duplicate,
                    "event stored by JetStream"
                );
                Ok(())
            }
            Err(e) => {
                if e.kind() == PublishErrorKind::StreamNotFound {
                    // Deleted since it was checked: create it again on the next attempt.
                    self.stream_ready.store(false, Ordering::Release);
                }
                Err(format!("not stored: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NatsSettings {
        NatsSettings {
            url: "nats://user:s3cret@127.0.0.1:4222".into(),
            subject: "portcullis.events".into(),
            stream: Some(StreamSettings {
                name: "PORTCULLIS_EVENTS".into(),
                subjects: vec!["portcullis.>".into()],
            }),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn debug_and_logs_never_show_the_password() {
        let settings = settings();
        assert!(!format!("{settings:?}").contains("s3cret"));
        let sink = NatsSink::new(settings).unwrap();
        assert!(!format!("{sink:?}").contains("s3cret"));
        assert_eq!(
            sink.url_for_logs(),
            "nats://127.0.0.1:4222 subject portcullis.events"
        );
    }

    #[test]
    fn each_bad_setting_is_named() {
        type Change = fn(&mut NatsSettings);
        let cases: [(Change, &str); 8] = [
            (|s| s.url = "http://u:s3cret@h".into(), "url"),
            (|s| s.subject = "portcullis.*".into(), "subject"),
            (|s| s.subject = String::new(), "subject"),
            (|s| s.stream.as_mut().unwrap().name = "A.B".into(), "stream"),
            (|s| s.stream.as_mut().unwrap().subjects.clear(), "subjects"),
            (
                |s| s.stream.as_mut().unwrap().subjects = vec!["a..b".into()],
                "subjects",
            ),
            (
                |s| s.stream.as_mut().unwrap().subjects = vec!["other.>".into()],
                "subjects",
            ),
            (|s| s.timeout = Duration::ZERO, "timeout"),
        ];
        for (change, key) in cases {
            let mut s = settings();
            change(&mut s);
            let error = NatsSink::new(s).unwrap_err();
            assert_eq!(error.key, key, "{error}");
            assert!(!error.to_string().contains("s3cret"), "{error}");
        }
    }
}
