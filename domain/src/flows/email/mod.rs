//! Passwordless sign-in by e-mail (spec §8, §11.1): `POST /signin/<email>` sends a magic
//! link; `GET /callback/<email>?email=…&token=…` redeems it once.
//!
//! The address is canonicalised once, first; the same canonical address is stored, hashed
//! with the token, and is the only recipient. The answer to a link request is the same
//! whether the address is known, unknown or throttled.

mod callback;
mod request;

pub(crate) use callback::{email_callback, start_callback};
pub(crate) use request::{email_request, start_request};

use serde_json::{json, Value};

fn account(provider_id: &str, email: &str) -> Value {
    json!({ "id": provider_id, "type": "email", "providerAccountId": email })
}
