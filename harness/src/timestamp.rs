//! Finds a date-time in free text, in the forms web apps print: RFC 3339 / ISO 8601 (with `T` or
//! a space, optional seconds, fraction and offset) and RFC 2822 / HTTP dates.

use time::format_description::well_known::Rfc2822;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A time found in text. `offset` is `None` when the text gave no zone (local time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub local: PrimitiveDateTime,
    pub offset: Option<UtcOffset>,
}

impl Found {
    /// How far this is from `now`. Without a zone, the nearest whole quarter hour of offset is
    /// assumed (every zone in use is a multiple of 15 minutes), so any zone's local time passes.
    pub fn distance_from(&self, now: OffsetDateTime) -> time::Duration {
        match self.offset {
            Some(offset) => (self.local.assume_offset(offset) - now).abs(),
            None => {
                let naive = self.local.assume_utc() - now;
                let quarter = time::Duration::minutes(15);
                let quarters =
                    (naive.whole_seconds() as f64 / quarter.whole_seconds() as f64).round();
                if quarters.abs() > 14.0 * 4.0 {
                    return naive.abs();
                }
                (naive - quarter * quarters as i32).abs()
            }
        }
    }
}

/// The first date-time in `text`, if any.
pub fn find(text: &str) -> Option<Found> {
    let bytes = text.as_bytes();
    for start in 0..bytes.len() {
        if bytes[start].is_ascii_digit()
            && (start == 0 || !bytes[start - 1].is_ascii_digit())
            && let Some(found) = iso_at(&text[start..])
        {
            return Some(found);
        }
    }
    rfc2822(text)
}

fn digits(text: &str, at: usize, count: usize) -> Option<u32> {
    let part = text.get(at..at + count)?;
    part.bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| part.parse().ok())?
}

fn iso_at(text: &str) -> Option<Found> {
    let year = digits(text, 0, 4)? as i32;
    let b = text.as_bytes();
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let month = Month::try_from(digits(text, 5, 2)? as u8).ok()?;
    let day = digits(text, 8, 2)? as u8;
    let hour = digits(text, 11, 2)? as u8;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = digits(text, 14, 2)? as u8;
    let mut at = 16;
    let mut second = 0;
    let mut nanos = 0;
    if b.get(at) == Some(&b':') {
        second = digits(text, at + 1, 2)? as u8;
        at += 3;
        if matches!(b.get(at), Some(b'.' | b',')) {
            let fraction: String = text[at + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            at += 1 + fraction.len();
            let padded = format!("{:0<9}", &fraction[..fraction.len().min(9)]);
            nanos = padded.parse().unwrap_or(0);
        }
    }
    let local = PrimitiveDateTime::new(
        Date::from_calendar_date(year, month, day).ok()?,
        Time::from_hms_nano(hour, minute, second, nanos).ok()?,
    );
    let rest = &text[at..];
    let offset =
        if rest.starts_with(['Z', 'z']) || rest.starts_with(" UTC") || rest.starts_with(" GMT") {
            Some(UtcOffset::UTC)
        } else if rest.starts_with(['+', '-']) {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let hours = digits(rest, 1, 2)? as i8;
            let minutes_at = if rest.as_bytes().get(3) == Some(&b':') {
                4
            } else {
                3
            };
            let minutes = digits(rest, minutes_at, 2).unwrap_or(0) as i8;
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
        } else {
            None
        };
    Some(Found { local, offset })
}

/// RFC 2822 dates (`Mon, 23 Nov 2026 06:21:16 GMT`), scanned from each weekday name.
fn rfc2822(text: &str) -> Option<Found> {
    const DAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    for (index, _) in text.char_indices() {
        let rest = &text[index..];
        if DAYS.iter().any(|d| rest.starts_with(d)) {
            // The date is at most ~31 characters; try the longest plausible prefixes.
            for len in (25..=rest.len().min(40)).rev() {
                let Some(candidate) = rest.get(..len) else {
                    continue;
                };
                let normalised = candidate
                    .replace(" GMT", " +0000")
                    .replace(" UTC", " +0000");
                if let Ok(parsed) = OffsetDateTime::parse(normalised.trim_end(), &Rfc2822) {
                    return Some(Found {
                        local: PrimitiveDateTime::new(parsed.date(), parsed.time()),
                        offset: Some(parsed.offset()),
                    });
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-23 06:21:16 UTC);

    fn distance(text: &str) -> Option<i64> {
        find(text).map(|f| f.distance_from(NOW).whole_seconds())
    }

    #[test]
    fn the_forms_apps_print() {
        assert_eq!(
            distance("Welcome! The current time is: 2026-11-23T06:21:16Z"),
            Some(0)
        );
        assert_eq!(distance("time=2026-11-23T06:21:10.123456+00:00."), Some(5));
        assert_eq!(
            distance("It is 2026-11-23T07:21:16+01:00 in Paris"),
            Some(0)
        );
        assert_eq!(distance("Flask says 2026-11-23 06:21:16.480123"), Some(0));
        assert_eq!(
            distance("local: 2026-11-23 11:51:16 (IST, no zone given)"),
            Some(0)
        );
        assert_eq!(distance("at 2026-11-23 06:21 UTC"), Some(16));
        assert_eq!(distance("Date: Mon, 23 Nov 2026 06:21:16 GMT"), Some(0));
    }

    #[test]
    fn stale_or_absent_times() {
        assert_eq!(
            distance("2025-01-01T00:00:00Z"),
            Some((NOW - datetime!(2025-01-01 0:00 UTC)).whole_seconds())
        );
        assert!(
            distance("2026-11-23 06:40:16").unwrap() > 60,
            "19 minutes off is no zone offset"
        );
        assert_eq!(distance("Welcome to the app"), None);
        assert_eq!(
            distance("version 12026-11-23T06:21:16Z"),
            None,
            "embedded in a longer number"
        );
        assert_eq!(distance("2026-13-40T99:99:99Z"), None);
    }
}
