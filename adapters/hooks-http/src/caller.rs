//! One signed call to one endpoint, and the checks its answer must pass. Every way it can
//! go wrong is a [`CallError`]: the hooks turn any of them into a refusal (fail closed).

use std::sync::Arc;
use std::time::Duration;

use portcullis_domain::secret::SecretString;
use portcullis_ports::http::{HttpCall, HttpClient, HttpFailure, HttpMethod};
use portcullis_ports::{Clock, Entropy};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::webhook::{SignatureError, WebhookSecrets};
use crate::wire::{HookName, HookRequest};

/// The default bound on one hook call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

/// Where one hook is served and how it is signed.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `http://` or `https://` URL; the body is POSTed to it.
    pub url: String,
    /// Every one signs the request; an answer signed by any one is accepted.
    pub secrets: WebhookSecrets,
    /// The whole call (connect, request, answer) must finish within this.
    pub timeout: Duration,
}

/// Why a hook call gave no usable answer. Names no secret and repeats no body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The request body could not be serialised.
    #[error("the request could not be encoded")]
    Encode,
    /// The endpoint did not answer within the timeout (in milliseconds).
    #[error("no answer within {0} ms")]
    Timeout(u128),
    /// The request could not be sent or the answer not read.
    #[error("{0}")]
    Transport(HttpFailure),
    /// The endpoint answered with a status other than 200.
    #[error("answered HTTP {0}, expected 200")]
    Status(u16),
    /// The answer's webhook signature does not verify.
    #[error("the answer's signature is refused: {0}")]
    Signature(SignatureError),
    /// The answer's body is not this hook's answer.
    #[error("the answer is not the JSON this hook expects")]
    Malformed,
}

/// Sends signed hook requests through the HTTP port.
#[derive(Clone)]
pub struct Caller {
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
}

impl Caller {
    /// `clock` dates the signatures (and checks the answers'); `entropy` draws message ids.
    pub fn new(
        http: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Self {
        Self {
            http,
            clock,
            entropy,
        }
    }

    /// POSTs `{"type": hook, "data": data}` signed with the endpoint's secrets, and reads
    /// the answer: HTTP 200, signed with one of those secrets for this request's id, JSON
    /// of type `A`. A failure is logged (hook, URL without its query, reason) and returned.
    pub async fn call<D: Serialize, A: DeserializeOwned>(
        &self,
        hook: HookName,
        endpoint: &Endpoint,
        data: D,
    ) -> Result<A, CallError> {
        let result = self.exchange(hook, endpoint, data).await;
        if let Err(error) = &result {
            let url = endpoint.url.split(['?', '#']).next().unwrap_or_default();
            tracing::warn!(
                target: "portcullis",
                hook = hook.as_str(),
                %url,
                %error,
                "hook failed; refusing"
            );
        }
        result
    }

    async fn exchange<D: Serialize, A: DeserializeOwned>(
        &self,
        hook: HookName,
        endpoint: &Endpoint,
        data: D,
    ) -> Result<A, CallError> {
        let body =
            serde_json::to_string(&HookRequest { hook, data }).map_err(|_| CallError::Encode)?;
        let id = WebhookSecrets::new_id(&mut *self.entropy.rng());
        let signed = endpoint
            .secrets
            .sign(&id, self.clock.now().unix_timestamp(), body.as_bytes());
        let mut call = HttpCall {
            method: HttpMethod::Post,
            url: endpoint.url.clone(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(SecretString::new(body)),
            cache: Default::default(),
        };
        for (name, value) in signed.headers() {
            call = call.header(name, value);
        }
        let answer = tokio::time::timeout(endpoint.timeout, self.http.send(call))
            .await
            .map_err(|_| CallError::Timeout(endpoint.timeout.as_millis()))?
            .map_err(CallError::Transport)?;
        if answer.status != 200 {
            return Err(CallError::Status(answer.status));
        }
        let header = |name: &str| answer.header(name).map(str::to_owned);
        endpoint
            .secrets
            .verify(
                &header,
                &answer.body,
                self.clock.now().unix_timestamp(),
                Some(&id),
            )
            .map_err(CallError::Signature)?;
        serde_json::from_slice(&answer.body).map_err(|_| CallError::Malformed)
    }
}
