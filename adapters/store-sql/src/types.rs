//! The two column types whose encoding differs between the databases: row ids and
//! timestamps. Each is a newtype with a codec for every dialect, so the store's queries are
//! written once.

use std::borrow::Cow;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::mysql::{MySql, MySqlTypeInfo, MySqlValueRef};
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef, Postgres};
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type, ValueRef};
use time::format_description::well_known::Rfc3339;
use time::macros::{datetime, format_description};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

// ---------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------

/// A row id. v3's schema makes ids `INT`, but databases created from other docs use
/// `BIGINT` or MySQL's `SERIAL` (`BIGINT UNSIGNED`): every integer width is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DbId(pub i64);

impl DbId {
    /// The id of a decimal id string in canonical form (`"42"`, not `"042"`, `"+42"` or
    /// `" 42"`): a string that is not one is the id of no row.
    pub(crate) fn parse(id: &str) -> Option<DbId> {
        let n: i64 = id.parse().ok()?;
        (n.to_string() == id).then_some(DbId(n))
    }
}

impl std::fmt::Display for DbId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Type<Postgres> for DbId {
    fn type_info() -> PgTypeInfo {
        <i64 as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <i16 as Type<Postgres>>::compatible(ty)
            || <i32 as Type<Postgres>>::compatible(ty)
            || <i64 as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for DbId {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for DbId {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let ty: Cow<'_, PgTypeInfo> = value.type_info();
        if <i32 as Type<Postgres>>::compatible(&ty) {
            Ok(DbId(<i32 as Decode<Postgres>>::decode(value)?.into()))
        } else if <i16 as Type<Postgres>>::compatible(&ty) {
            Ok(DbId(<i16 as Decode<Postgres>>::decode(value)?.into()))
        } else {
            Ok(DbId(<i64 as Decode<Postgres>>::decode(value)?))
        }
    }
}

impl Type<MySql> for DbId {
    fn type_info() -> MySqlTypeInfo {
        <i64 as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <i64 as Type<MySql>>::compatible(ty) || <u64 as Type<MySql>>::compatible(ty)
    }
}

impl Encode<'_, MySql> for DbId {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<MySql>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, MySql> for DbId {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        let unsigned = <u64 as Type<MySql>>::compatible(&value.type_info());
        if unsigned {
            let n = <u64 as Decode<MySql>>::decode(value)?;
            Ok(DbId(i64::try_from(n).map_err(|_| "row id out of range")?))
        } else {
            Ok(DbId(<i64 as Decode<MySql>>::decode(value)?))
        }
    }
}

impl Type<Sqlite> for DbId {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for DbId {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for DbId {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DbId(<i64 as Decode<Sqlite>>::decode(value)?))
    }
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

/// A text column as read back. MySQL reports columns with a binary collation (which
/// `migrate()` gives its tables, for byte-exact comparisons) as `VARBINARY`; their bytes
/// are the column's UTF-8 text all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbText(pub String);

impl Type<Postgres> for DbText {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for DbText {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DbText(<String as Decode<Postgres>>::decode(value)?))
    }
}

impl Type<MySql> for DbText {
    fn type_info() -> MySqlTypeInfo {
        <String as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <String as Type<MySql>>::compatible(ty) || <Vec<u8> as Type<MySql>>::compatible(ty)
    }
}

impl<'r> Decode<'r, MySql> for DbText {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        let bytes = <&[u8] as Decode<MySql>>::decode(value)?;
        Ok(DbText(std::str::from_utf8(bytes)?.to_owned()))
    }
}

impl Type<Sqlite> for DbText {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for DbText {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(DbText(<String as Decode<Sqlite>>::decode(value)?))
    }
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

/// A timestamp column: `TIMESTAMPTZ` on PostgreSQL (a plain `TIMESTAMP` is read as UTC),
/// `TIMESTAMP(6)` on MySQL/MariaDB (the connection's time zone is UTC), and on SQLite the
/// text TypeORM wrote into v3's `datetime` columns: `YYYY-MM-DD HH:MM:SS.SSS` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ts(pub OffsetDateTime);

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <OffsetDateTime as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <OffsetDateTime as Type<Postgres>>::compatible(ty)
            || <PrimitiveDateTime as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <OffsetDateTime as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let without_zone = <PrimitiveDateTime as Type<Postgres>>::compatible(&value.type_info());
        if without_zone {
            Ok(Ts(
                <PrimitiveDateTime as Decode<Postgres>>::decode(value)?.assume_utc()
            ))
        } else {
            Ok(Ts(<OffsetDateTime as Decode<Postgres>>::decode(value)?))
        }
    }
}

impl Type<MySql> for Ts {
    fn type_info() -> MySqlTypeInfo {
        <OffsetDateTime as Type<MySql>>::type_info()
    }
    fn compatible(ty: &MySqlTypeInfo) -> bool {
        <OffsetDateTime as Type<MySql>>::compatible(ty)
    }
}

/// MySQL's `TIMESTAMP` range. MariaDB stores the current time, without an error, for a
/// bound value outside it: such a value is refused before it is sent.
const MYSQL_TIMESTAMP_MIN: OffsetDateTime = datetime!(1970-01-01 00:00:01 UTC);
const MYSQL_TIMESTAMP_MAX: OffsetDateTime = datetime!(2038-01-19 03:14:07.999_999 UTC);

impl Encode<'_, MySql> for Ts {
    fn encode_by_ref(&self, buf: &mut Vec<u8>) -> Result<IsNull, BoxDynError> {
        if self.0 < MYSQL_TIMESTAMP_MIN || self.0 > MYSQL_TIMESTAMP_MAX {
            return Err(format!(
                "timestamp {} is outside MySQL's TIMESTAMP range (1970-01-01 00:00:01 to \
                 2038-01-19 03:14:07 UTC)",
                self.0.to_offset(UtcOffset::UTC).date()
            )
            .into());
        }
        <OffsetDateTime as Encode<MySql>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> Decode<'r, MySql> for Ts {
    fn decode(value: MySqlValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<OffsetDateTime as Decode<MySql>>::decode(value)?))
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <String as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(sqlite_text(self.0)?, buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        parse_sqlite_text(text)
            .map(Ts)
            .ok_or_else(|| "not a timestamp (expected `YYYY-MM-DD HH:MM:SS[.fff]` in UTC)".into())
    }
}

/// `YYYY-MM-DD HH:MM:SS.SSS` in UTC, as TypeORM writes SQLite `datetime` columns: sortable
/// as text, millisecond precision (truncated, never rounded up).
pub(crate) fn sqlite_text(at: OffsetDateTime) -> Result<String, BoxDynError> {
    let utc = at.to_offset(UtcOffset::UTC);
    Ok(utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    ))?)
}

/// Reads what SQLite `datetime` columns hold in the wild: TypeORM's
/// `YYYY-MM-DD HH:MM:SS.SSS` (UTC), SQLite's own `datetime('now')` (no fraction), and
/// ISO-8601 with `T`, any fraction and an optional offset (no offset means UTC).
pub(crate) fn parse_sqlite_text(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if text.len() < 19 || !text.is_char_boundary(10) || !text.is_char_boundary(19) {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let rest = rest.strip_prefix([' ', 'T', 't'])?;
    let (clock, tail) = rest.split_at(8);
    let (fraction, zone) = match tail.strip_prefix('.') {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            after.split_at(digits)
        }
        None => ("", tail),
    };
    let zone = match zone.trim_start() {
        "" => "Z",
        zone => zone,
    };
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    OffsetDateTime::parse(&format!("{date}T{clock}{fraction}{zone}"), &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_are_canonical_decimals() {
        assert_eq!(DbId::parse("42"), Some(DbId(42)));
        assert_eq!(DbId::parse("-7"), Some(DbId(-7)));
        for not_an_id in [
            "",
            "042",
            "+42",
            " 42",
            "42 ",
            "4_2",
            "0x2a",
            "abc",
            "99999999999999999999",
        ] {
            assert_eq!(DbId::parse(not_an_id), None, "{not_an_id:?}");
        }
    }

    #[test]
    fn sqlite_text_is_typeorm_shaped_utc_milliseconds() {
        let at = datetime!(2029-11-12 13:14:15.123_456_789 +05:30);
        assert_eq!(sqlite_text(at).unwrap(), "2029-11-12 07:44:15.123");
        let late = datetime!(1999-12-31 23:59:59.999_999 -08:00);
        assert_eq!(sqlite_text(late).unwrap(), "2000-01-01 07:59:59.999");
    }

    #[test]
    fn sqlite_text_reads_what_v3_and_sqlite_wrote() {
        let cases = [
            (
                "2021-02-03 04:05:06.789",
                datetime!(2021-02-03 04:05:06.789 UTC),
            ),
            ("2021-02-03 04:05:06", datetime!(2021-02-03 04:05:06 UTC)),
            (
                "2021-02-03T04:05:06.789Z",
                datetime!(2021-02-03 04:05:06.789 UTC),
            ),
            (
                "2021-02-03T04:05:06.789123+02:00",
                datetime!(2021-02-03 02:05:06.789123 UTC),
            ),
            (
                "2021-02-03 04:05:06.5 +00:00",
                datetime!(2021-02-03 04:05:06.5 UTC),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_sqlite_text(text), Some(want), "{text}");
        }
        for bad in [
            "",
            "2021-02-03",
            "yesterday",
            "2021-02-03 25:00:00",
            "2021-02-03 04:05:06.7x",
        ] {
            assert_eq!(parse_sqlite_text(bad), None, "{bad:?}");
        }
    }
}
