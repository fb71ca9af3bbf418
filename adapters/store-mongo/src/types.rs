//! How the model's values are spelled in BSON (ids, dates, optional values) and how
//! documents are read back: field by field, with errors that name the collection and
//! field, never the value.

use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, DateTime as BsonDateTime, Document};
use portcullis_domain::model::{Account, Session, User, VerificationToken};
use portcullis_domain::secret::SecretString;
use portcullis_domain::store::StoreError;
use time::OffsetDateTime;

use crate::schema::{collection, field};

/// A user id the store could have issued: the lower-case hex of an ObjectId. Anything else
/// (another spelling of the same bytes included) names no user.
pub(crate) fn parse_id(id: &str) -> Option<ObjectId> {
    ObjectId::parse_str(id)
        .ok()
        .filter(|oid| oid.to_hex() == id)
}

/// The filter condition "is a reference to this ObjectId", for the `userId` fields.
///
/// `{ $in: [id] }` rather than a plain `id`: the same match on MongoDB, and nx-27017 (the
/// MongoDB-wire test server) compares a plain ObjectId with fields other than `_id` as
/// text, so a plain match finds nothing there.
pub(crate) fn refers_to(id: ObjectId) -> Bson {
    Bson::Document(doc! { "$in": [id] })
}

pub(crate) fn user_oid_or_not_found(user_id: &str) -> Result<ObjectId, StoreError> {
    parse_id(user_id).ok_or_else(|| StoreError::NotFound("user".to_owned()))
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// A BSON date: milliseconds since the epoch, rounded down.
pub(crate) fn to_bson_date(t: OffsetDateTime) -> Result<BsonDateTime, StoreError> {
    let millis = t.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(millis)
        .map(BsonDateTime::from_millis)
        .map_err(|_| StoreError::Backend("a timestamp is out of BSON's range".to_owned()))
}

pub(crate) fn opt_date(t: Option<OffsetDateTime>) -> Result<Bson, StoreError> {
    Ok(match t {
        Some(t) => Bson::DateTime(to_bson_date(t)?),
        None => Bson::Null,
    })
}

pub(crate) fn opt_str(value: Option<&str>) -> Bson {
    value.map_or(Bson::Null, |s| Bson::String(s.to_owned()))
}

pub(crate) fn opt_secret(value: Option<&SecretString>) -> Bson {
    opt_str(value.map(SecretString::expose))
}

/// Writes the user's own fields into `document` (a new one or one read back).
pub(crate) fn set_user_fields(
    document: &mut Document,
    name: Option<&str>,
    email: Option<&str>,
    email_verified: Option<OffsetDateTime>,
    image: Option<&str>,
    now: BsonDateTime,
) -> Result<(), StoreError> {
    document.insert(field::NAME, opt_str(name));
    match email {
        Some(email) => {
            document.insert(field::EMAIL, email);
        }
        // Left out, not null: the sparse unique index skips only missing fields.
        None => {
            document.remove(field::EMAIL);
        }
    }
    document.insert(field::EMAIL_VERIFIED, opt_date(email_verified)?);
    document.insert(field::IMAGE, opt_str(image));
    if !document.contains_key(field::CREATED_AT) {
        document.insert(field::CREATED_AT, now);
    }
    document.insert(field::UPDATED_AT, now);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Decoding: errors name the collection and field, never the value.
// ---------------------------------------------------------------------------------------

struct Fields<'a> {
    document: &'a Document,
    collection: &'static str,
}

impl<'a> Fields<'a> {
    fn of(document: &'a Document, collection: &'static str) -> Self {
        Self {
            document,
            collection,
        }
    }

    fn error(&self, key: &str, expected: &str, found: Option<&Bson>) -> StoreError {
        let found = match found {
            Some(value) => format!("{:?}", value.element_type()),
            None => "nothing".to_owned(),
        };
        StoreError::Decode(format!(
            "{}.{key}: expected {expected}, found {found}",
            self.collection
        ))
    }

    fn string(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::String(s)) => Ok(s.clone()),
            other => Err(self.error(key, "a string", other)),
        }
    }

    fn opt_string(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.document.get(key) {
            None | Some(Bson::Null | Bson::Undefined) => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s.clone())),
            other => Err(self.error(key, "a string or null", other)),
        }
    }

    fn date(&self, key: &str) -> Result<OffsetDateTime, StoreError> {
        match self.document.get(key) {
            Some(Bson::DateTime(d)) => from_bson_date(*d).ok_or_else(|| {
                StoreError::Decode(format!("{}.{key}: date out of range", self.collection))
            }),
            other => Err(self.error(key, "a date", other)),
        }
    }

    fn opt_date(&self, key: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        match self.document.get(key) {
            None | Some(Bson::Null | Bson::Undefined) => Ok(None),
            Some(_) => self.date(key).map(Some),
        }
    }

    /// The document's own `_id`, which must be an ObjectId.
    fn object_id(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::ObjectId(oid)) => Ok(oid.to_hex()),
            other => Err(self.error(key, "an ObjectId", other)),
        }
    }

    /// A reference to a user: an ObjectId (v3), or a string as some tools write it.
    fn user_ref(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::ObjectId(oid)) => Ok(oid.to_hex()),
            Some(Bson::String(s)) => Ok(s.clone()),
            other => Err(self.error(key, "an ObjectId", other)),
        }
    }

    /// A provider account id: a string, or the number v3 stored when the provider's
    /// profile id was one (read as its decimal string, as v3 spelled it in `compoundId`).
    fn provider_account_id(&self, key: &str) -> Result<String, StoreError> {
        match self.document.get(key) {
            Some(Bson::String(s)) => Ok(s.clone()),
            Some(Bson::Int32(n)) => Ok(n.to_string()),
            Some(Bson::Int64(n)) => Ok(n.to_string()),
            Some(Bson::Double(n)) if n.is_finite() => Ok(js_number(*n)),
            other => Err(self.error(key, "a string or a number", other)),
        }
    }
}

/// A JavaScript `Number` as `String(n)` spells it, for the integers provider ids are.
fn js_number(n: f64) -> String {
    // 2^53: every integer below is exact in a double and prints without an exponent.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() < EXACT {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}

fn from_bson_date(d: BsonDateTime) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(d.timestamp_millis()) * 1_000_000).ok()
}

pub(crate) fn decode_user(document: &Document) -> Result<User, StoreError> {
    let id = Fields::of(document, collection::USERS).object_id(field::ID)?;
    decode_user_fields(document, id)
}

/// A user document's fields, with its id known already.
pub(crate) fn decode_user_fields(document: &Document, id: String) -> Result<User, StoreError> {
    let f = Fields::of(document, collection::USERS);
    Ok(User {
        id,
        name: f.opt_string(field::NAME)?,
        email: f.opt_string(field::EMAIL)?,
        email_verified: f.opt_date(field::EMAIL_VERIFIED)?,
        image: f.opt_string(field::IMAGE)?,
    })
}

pub(crate) fn decode_account(document: &Document) -> Result<Account, StoreError> {
    let f = Fields::of(document, collection::ACCOUNTS);
    Ok(Account {
        user_id: f.user_ref(field::USER_ID)?,
        provider_type: f.string(field::PROVIDER_TYPE)?,
        provider_id: f.string(field::PROVIDER_ID)?,
        provider_account_id: f.provider_account_id(field::PROVIDER_ACCOUNT_ID)?,
        refresh_token: f.opt_string(field::REFRESH_TOKEN)?.map(SecretString::new),
        access_token: f.opt_string(field::ACCESS_TOKEN)?.map(SecretString::new),
        access_token_expires: f.opt_date(field::ACCESS_TOKEN_EXPIRES)?,
        token_type: f.opt_string(field::TOKEN_TYPE)?,
        scope: f.opt_string(field::SCOPE)?,
        id_token: f.opt_string(field::ID_TOKEN)?.map(SecretString::new),
    })
}

pub(crate) fn decode_session(document: &Document) -> Result<Session, StoreError> {
    let f = Fields::of(document, collection::SESSIONS);
    Ok(Session {
        session_token: SecretString::new(f.string(field::SESSION_TOKEN)?),
        user_id: f.user_ref(field::USER_ID)?,
        expires: f.date(field::EXPIRES)?,
        access_token: SecretString::new(f.string(field::ACCESS_TOKEN)?),
        created: f.opt_date(field::CREATED_AT)?,
    })
}

pub(crate) fn decode_verification(document: &Document) -> Result<VerificationToken, StoreError> {
    let f = Fields::of(document, collection::VERIFICATION_REQUESTS);
    Ok(VerificationToken {
        identifier: f.string(field::IDENTIFIER)?,
        token_hash: f.string(field::TOKEN)?,
        expires: f.date(field::EXPIRES)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ids_are_canonical_object_ids_only() {
        let oid = ObjectId::new();
        assert_eq!(parse_id(&oid.to_hex()), Some(oid));
        for not_an_id in [
            "",
            "not-an-objectid",
            "999999999",
            "6A1F0C2E9B3D4E5F60718293",
            "6a1f0c2e9b3d4e5f6071829",
            "6a1f0c2e9b3d4e5f607182930",
            " 6a1f0c2e9b3d4e5f60718293",
            "zz1f0c2e9b3d4e5f60718293",
        ] {
            assert_eq!(parse_id(not_an_id), None, "{not_an_id:?}");
        }
    }

    #[test]
    fn dates_round_down_to_the_millisecond() {
        let t = datetime!(2029-11-12 13:14:15.123_999_999 +05:30);
        let d = to_bson_date(t).unwrap();
        assert_eq!(
            from_bson_date(d),
            Some(datetime!(2029-11-12 07:44:15.123 UTC))
        );
        let before_epoch = datetime!(1969-12-31 23:59:59.999_5 UTC);
        let d = to_bson_date(before_epoch).unwrap();
        assert_eq!(d.timestamp_millis(), -1);
    }

    #[test]
    fn numbers_read_as_javascript_spells_them() {
        assert_eq!(js_number(12_345.0), "12345");
        assert_eq!(js_number(4_294_967_296.0), "4294967296");
        assert_eq!(js_number(-7.0), "-7");
        assert_eq!(js_number(1.5), "1.5");
    }

    #[test]
    fn decode_errors_name_the_field_not_the_value() {
        let secret = "5".repeat(64);
        let document = doc! {
            field::SESSION_TOKEN: &secret,
            field::USER_ID: ObjectId::new(),
            field::EXPIRES: &secret,
            field::ACCESS_TOKEN: "a",
        };
        let error = decode_session(&document).unwrap_err();
        assert_eq!(
            error,
            StoreError::Decode("sessions.expires: expected a date, found String".to_owned())
        );
        assert!(!error.to_string().contains(&secret));
    }
}
