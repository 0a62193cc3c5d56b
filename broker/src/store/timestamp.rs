//! Points in time as the store keeps them: UTC with millisecond precision, written as
//! fixed-width RFC 3339 text (`2024-05-01T12:00:00.000Z`).
//!
//! Fixed width and one offset make the text sort as time does, which the store relies on
//! (`ORDER BY created_at`, and the cut-off for bindings still being created is compared as
//! text). The text is the one the broker has always written, so existing rows read back
//! unchanged; any other RFC 3339 text also reads, and is written back in this form.

use super::columns::ColumnError;
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The stored form.
const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// A point in time, in UTC, to the millisecond: what the store's `created_at` and
/// `updated_at` columns hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self::from_date_time(OffsetDateTime::now_utc())
    }

    /// `at` in UTC, cut to the millisecond (what the store can keep).
    pub fn from_date_time(at: OffsetDateTime) -> Self {
        let utc = at.to_offset(UtcOffset::UTC);
        let millis = utc.nanosecond() / 1_000_000 * 1_000_000;
        Self(utc.replace_nanosecond(millis).unwrap_or(utc))
    }

    /// The time `millis` milliseconds after the Unix epoch; `None` outside the years the
    /// store can write (0000 to 9999).
    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()?;
        (0..=9999).contains(&at.year()).then_some(Self(at))
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// The time as a `time` date-time (UTC).
    pub fn date_time(self) -> OffsetDateTime {
        self.0
    }

    /// Reads RFC 3339 text (the stored form, or any other offset or precision).
    pub fn parse(text: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(text, &Rfc3339).map(Self::from_date_time)
    }

    /// `by` earlier, or the earliest time the store can write when that is out of range.
    pub fn saturating_sub(self, by: Duration) -> Self {
        let earliest = Self::from_unix_millis(-62_167_219_200_000).expect("0000-01-01 in range");
        time::Duration::try_from(by)
            .ok()
            .and_then(|by| self.0.checked_sub(by))
            .map(Self)
            .filter(|t| *t >= earliest)
            .unwrap_or(earliest)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.format(FORMAT).map_err(|_| std::fmt::Error)?;
        f.write_str(&text)
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.to_string().into())
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Self::parse(text).map_err(|source| {
            ColumnError::Timestamp { text: text.to_string(), source }.into_from_sql()
        })
    }
}
