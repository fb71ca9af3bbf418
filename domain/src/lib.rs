//! Portcullis's pure core: every sign-in flow as a declared state machine that yields
//! effects (store, hooks, events) and a final HTTP response. No I/O, no clock, no OS
//! randomness: time and a random source come in with each request.
//!
//! The wire is NextAuth.js v3's (routes, cookies, CSRF, JWT); its known holes are closed.

pub mod client_ip;
pub mod config;
pub mod cookies;
pub mod csrf;
pub mod effect;
pub mod email_address;
pub mod engine;
pub mod entropy;
pub mod error;
pub mod flow;
pub mod flows;
pub mod http;
pub mod jwt;
pub mod mail;
pub mod mail_template;
pub mod model;
pub mod oauth;
pub mod pages;
pub mod provider;
pub mod redirect;
pub mod request;
pub mod response;
pub mod secret;
pub mod session_key;
pub mod site;
pub mod store;
pub mod token_cipher;

pub use config::{Config, ConfigBuilder, ConfigError, HookSet, Pages, SessionStrategy, Theme};
pub use effect::{
    AuthEvent, AuthorizeCall, Effect, HookCall, HookFailure, Outcome, SignInDecision,
};
pub use engine::{Engine, Env, Run, Step};
pub use error::ErrorCode;
pub use provider::{CredentialField, Provider, ProviderKind};
