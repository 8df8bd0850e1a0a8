//! Joda-Time date patterns (`dd/MMM/yyyy:HH:mm:ss Z`, as Logstash users write them),
//! compiled once into items, used to parse times (date filter) and to format them (templates).
//! Also parses ISO 8601 text as Logstash's `ISO8601` format does. English names only.

use chrono::{
    DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use std::fmt::Write;

const MONTHS_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS_LONG: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// A compiled Joda-style pattern.
#[derive(Debug, Clone)]
pub struct JodaFormat {
    items: Vec<Item>,
    /// Two-digit years (`yy`) are read into the century around this year (now − 30), as Joda does.
    two_digit_year_pivot: i32,
}

/// A pattern that cannot be compiled.
#[derive(Debug, Clone, thiserror::Error)]
#[error("date pattern `{pattern}`: {reason}")]
pub struct JodaError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    Literal(String),
    /// A numeric field printed with at least `width` digits.
    Number {
        field: NumericField,
        width: usize,
    },
    /// `yy`: the last two digits of the year.
    TwoDigitYear,
    /// `MMM` (short) or `MMMM` (long) month name.
    MonthName {
        long: bool,
    },
    /// `EEE` (short) or `EEEE` (long) day-of-week name; parsed but not checked against the date.
    WeekdayName {
        long: bool,
    },
    /// `S…`: fraction of second with this many digits.
    Fraction {
        digits: usize,
    },
    /// `a`: AM / PM.
    HalfDay,
    /// `Z` (`+0100`) or `ZZ` (`+01:00`); both parse either form and `Z`.
    Offset {
        colon: bool,
    },
    /// `ZZZ`: a zone id such as `Europe/Berlin`.
    ZoneId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum NumericField {
    Year,
    Month,
    Day,
    Hour24,
    Hour12,
    Minute,
    Second,
}

impl NumericField {
    /// The most digits parsing reads for this field (at least the pattern's width).
    fn max_digits(self, width: usize) -> usize {
        let natural = if self == NumericField::Year { 4 } else { 2 };
        width.max(natural)
    }
}

/// Where the parsed time's zone comes from.
#[derive(Debug, Clone, Copy)]
enum Zone {
    Fixed(i32),
    Named(Tz),
}

/// Field values collected while parsing; missing ones take Joda's defaults.
#[derive(Debug, Default)]
struct Parsed {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: u32,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    nanos: u32,
    zone: Option<Zone>,
}

impl JodaFormat {
    /// Compiles `pattern`.
    pub fn parse(pattern: &str) -> Result<JodaFormat, JodaError> {
        let error = |reason: String| JodaError {
            pattern: pattern.to_string(),
            reason,
        };
        let mut items = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                let mut literal = String::new();
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    push_literal(&mut items, "'");
                    continue;
                }
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => literal.push(other),
                        None => {
                            return Err(error(
                                "quoted text has no closing `'`: close it, or write `''` for a quote"
                                    .to_string(),
                            ));
                        }
                    }
                }
                push_literal(&mut items, &literal);
                continue;
            }
            if !c.is_ascii_alphabetic() {
                let mut buffer = [0; 4];
                push_literal(&mut items, c.encode_utf8(&mut buffer));
                continue;
            }
            let mut count = 1;
            while chars.peek() == Some(&c) {
                chars.next();
                count += 1;
            }
            let number = |field| Item::Number {
                field,
                width: count,
            };
            items.push(match c {
                'y' | 'Y' if count == 2 => Item::TwoDigitYear,
                'y' | 'Y' => number(NumericField::Year),
                'M' if count >= 4 => Item::MonthName { long: true },
                'M' if count == 3 => Item::MonthName { long: false },
                'M' => number(NumericField::Month),
                'd' => number(NumericField::Day),
                'H' => number(NumericField::Hour24),
                'h' => number(NumericField::Hour12),
                'm' => number(NumericField::Minute),
                's' => number(NumericField::Second),
                'S' if count <= 9 => Item::Fraction { digits: count },
                'S' => {
                    return Err(error(format!(
                        "`{}` asks for {count} fraction digits; at most 9 (nanoseconds) are supported",
                        "S".repeat(count)
                    )));
                }
                'a' => Item::HalfDay,
                'Z' if count == 1 => Item::Offset { colon: false },
                'Z' if count == 2 => Item::Offset { colon: true },
                'Z' => Item::ZoneId,
                'E' => Item::WeekdayName { long: count >= 4 },
                other => {
                    return Err(error(format!(
                        "unsupported letter `{other}`: use y M d H h m s S a Z E, \
                         and quote literal text ('T')"
                    )));
                }
            });
        }
        Ok(JodaFormat {
            items,
            two_digit_year_pivot: Utc::now().year() - 30,
        })
    }

    /// Appends `time` formatted with this pattern (in UTC) to `out`.
    pub fn format(&self, time: &DateTime<Utc>, out: &mut String) {
        for item in &self.items {
            // Writing into a String cannot fail.
            let _ = match item {
                Item::Literal(text) => {
                    out.push_str(text);
                    Ok(())
                }
                Item::Number { field, width } => {
                    let value = match field {
                        NumericField::Year => i64::from(time.year()),
                        NumericField::Month => i64::from(time.month()),
                        NumericField::Day => i64::from(time.day()),
                        NumericField::Hour24 => i64::from(time.hour()),
                        NumericField::Hour12 => i64::from(time.hour12().1),
                        NumericField::Minute => i64::from(time.minute()),
                        NumericField::Second => i64::from(time.second()),
                    };
                    write!(out, "{value:0width$}")
                }
                Item::TwoDigitYear => write!(out, "{:02}", time.year().rem_euclid(100)),
                Item::MonthName { long } => {
                    let name = month_name(time.month0());
                    out.push_str(if *long { name } else { short(name) });
                    Ok(())
                }
                Item::WeekdayName { long } => {
                    let name = weekday_name(time.weekday());
                    out.push_str(if *long { name } else { short(name) });
                    Ok(())
                }
                Item::Fraction { digits } => {
                    // `digits` is 1..=9 by construction.
                    let scaled = time.nanosecond().min(999_999_999) / 10u32.pow(9 - *digits as u32);
                    write!(out, "{scaled:0digits$}")
                }
                Item::HalfDay => {
                    out.push_str(if time.hour() < 12 { "AM" } else { "PM" });
                    Ok(())
                }
                Item::Offset { colon: false } => {
                    out.push_str("+0000");
                    Ok(())
                }
                Item::Offset { colon: true } => {
                    out.push_str("+00:00");
                    Ok(())
                }
                Item::ZoneId => {
                    out.push_str("UTC");
                    Ok(())
                }
            };
        }
    }

    /// Parses `text` with this pattern; zone-less text is read in `default_zone`.
    /// The whole text must match; a missing year is the current year (as Logstash does).
    pub fn parse_time(&self, text: &str, default_zone: Tz) -> Option<DateTime<Utc>> {
        let bytes = text.as_bytes();
        let mut pos = 0;
        let mut parsed = Parsed::default();
        for item in &self.items {
            match item {
                Item::Literal(literal) => {
                    let end = pos + literal.len();
                    if !bytes
                        .get(pos..end)?
                        .eq_ignore_ascii_case(literal.as_bytes())
                    {
                        return None;
                    }
                    pos = end;
                }
                Item::Number { field, width } => {
                    let value = number(bytes, &mut pos, 1, field.max_digits(*width))?;
                    match field {
                        NumericField::Year => parsed.year = Some(i32::try_from(value).ok()?),
                        NumericField::Month => parsed.month = Some(value),
                        NumericField::Day => parsed.day = Some(value),
                        NumericField::Hour24 => parsed.hour = value,
                        NumericField::Hour12 => parsed.hour12 = Some(value),
                        NumericField::Minute => parsed.minute = value,
                        NumericField::Second => parsed.second = value,
                    }
                }
                Item::TwoDigitYear => {
                    let value = number(bytes, &mut pos, 2, 2)?;
                    parsed.year = Some(two_digit_year(value, self.two_digit_year_pivot));
                }
                Item::MonthName { .. } => {
                    let index = name_index(bytes, &mut pos, &MONTHS_LONG)?;
                    parsed.month = Some(u32::try_from(index).ok()? + 1);
                }
                Item::WeekdayName { .. } => {
                    name_index(bytes, &mut pos, &WEEKDAYS_LONG)?;
                }
                Item::Fraction { .. } => parsed.nanos = fraction(bytes, &mut pos)?,
                Item::HalfDay => {
                    let marker = bytes.get(pos..pos + 2)?;
                    parsed.pm = Some(if marker.eq_ignore_ascii_case(b"PM") {
                        true
                    } else if marker.eq_ignore_ascii_case(b"AM") {
                        false
                    } else {
                        return None;
                    });
                    pos += 2;
                }
                Item::Offset { .. } => parsed.zone = Some(Zone::Fixed(offset(bytes, &mut pos)?)),
                Item::ZoneId => parsed.zone = Some(Zone::Named(zone_id(text, &mut pos)?)),
            }
        }
        if pos != bytes.len() {
            return None;
        }
        parsed.resolve(default_zone)
    }
}

/// Parses ISO 8601 text as Logstash's `ISO8601` does: `2024-03-05T10:00:00Z`, with a fraction
/// (`.123` or `,123`), an offset (`+01:00`, `+0100`, `+01`), a space instead of `T`, without
/// seconds, or a bare date. Zone-less text is read in `default_zone`.
pub fn parse_iso8601(text: &str, default_zone: Tz) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut parsed = Parsed {
        year: Some(i32::try_from(number(bytes, &mut pos, 4, 4)?).ok()?),
        ..Parsed::default()
    };
    expect(bytes, &mut pos, b'-')?;
    parsed.month = Some(number(bytes, &mut pos, 2, 2)?);
    expect(bytes, &mut pos, b'-')?;
    parsed.day = Some(number(bytes, &mut pos, 2, 2)?);
    if pos < bytes.len() {
        match bytes.get(pos) {
            Some(b'T' | b't' | b' ') => pos += 1,
            _ => return None,
        }
        parsed.hour = number(bytes, &mut pos, 2, 2)?;
        expect(bytes, &mut pos, b':')?;
        parsed.minute = number(bytes, &mut pos, 2, 2)?;
        if bytes.get(pos) == Some(&b':') {
            pos += 1;
            parsed.second = number(bytes, &mut pos, 2, 2)?;
            if let Some(b'.' | b',') = bytes.get(pos) {
                pos += 1;
                parsed.nanos = fraction(bytes, &mut pos)?;
            }
        }
        if pos < bytes.len() {
            parsed.zone = Some(Zone::Fixed(offset(bytes, &mut pos)?));
        }
    }
    if pos != bytes.len() {
        return None;
    }
    parsed.resolve(default_zone)
}

impl Parsed {
    /// The instant the collected fields describe, or `None` if they describe no valid time
    /// (Feb 30, hour 25, a local time skipped by a DST change).
    fn resolve(&self, default_zone: Tz) -> Option<DateTime<Utc>> {
        let hour = match self.hour12 {
            Some(hour12 @ 1..=12) => hour12 % 12 + if self.pm == Some(true) { 12 } else { 0 },
            Some(_) => return None,
            None => self.hour,
        };
        let year = match self.year {
            Some(year) => year,
            None => Utc::now().year(),
        };
        let date = NaiveDate::from_ymd_opt(year, self.month.unwrap_or(1), self.day.unwrap_or(1))?;
        let time = NaiveTime::from_hms_nano_opt(hour, self.minute, self.second, self.nanos)?;
        let local = date.and_time(time);
        match self.zone.unwrap_or(Zone::Named(default_zone)) {
            Zone::Fixed(seconds) => FixedOffset::east_opt(seconds)?
                .from_local_datetime(&local)
                .single()
                .map(|time| time.to_utc()),
            Zone::Named(zone) => zone
                .from_local_datetime(&local)
                .earliest()
                .map(|time| time.to_utc()),
        }
    }
}

fn push_literal(items: &mut Vec<Item>, text: &str) {
    if let Some(Item::Literal(previous)) = items.last_mut() {
        previous.push_str(text);
    } else {
        items.push(Item::Literal(text.to_string()));
    }
}

fn month_name(month0: u32) -> &'static str {
    MONTHS_LONG
        .get(month0 as usize)
        .copied()
        .unwrap_or_default()
}

fn weekday_name(weekday: Weekday) -> &'static str {
    WEEKDAYS_LONG
        .get(weekday.num_days_from_monday() as usize)
        .copied()
        .unwrap_or_default()
}

/// The three-letter form of an English month or day name.
fn short(name: &'static str) -> &'static str {
    name.get(..3).unwrap_or(name)
}

/// Reads `min..=max` ASCII digits at `pos`.
fn number(bytes: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let mut value: u32 = 0;
    let mut count = 0;
    while count < max {
        match bytes.get(*pos + count) {
            Some(digit @ b'0'..=b'9') => {
                value = value
                    .checked_mul(10)?
                    .checked_add(u32::from(digit - b'0'))?;
                count += 1;
            }
            _ => break,
        }
    }
    if count < min {
        return None;
    }
    *pos += count;
    Some(value)
}

fn expect(bytes: &[u8], pos: &mut usize, wanted: u8) -> Option<()> {
    (bytes.get(*pos) == Some(&wanted)).then(|| *pos += 1)
}

/// Reads a fraction of a second (1 to 9 digits kept, further digits skipped) as nanoseconds.
fn fraction(bytes: &[u8], pos: &mut usize) -> Option<u32> {
    let start = *pos;
    let mut nanos = number(bytes, pos, 1, 9)?;
    nanos *= 10u32.pow(9 - (*pos - start) as u32);
    while let Some(b'0'..=b'9') = bytes.get(*pos) {
        *pos += 1;
    }
    Some(nanos)
}

/// Reads a UTC offset in seconds: `Z`, `+01`, `+0100` or `+01:00`.
fn offset(bytes: &[u8], pos: &mut usize) -> Option<i32> {
    let sign = match bytes.get(*pos)? {
        b'Z' | b'z' => {
            *pos += 1;
            return Some(0);
        }
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *pos += 1;
    let hours = number(bytes, pos, 2, 2)?;
    if bytes.get(*pos) == Some(&b':') {
        *pos += 1;
    }
    let minutes = match bytes.get(*pos) {
        Some(b'0'..=b'9') => number(bytes, pos, 2, 2)?,
        _ => 0,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i32::try_from(hours * 3600 + minutes * 60).ok()?)
}

/// Reads a zone id such as `Europe/Berlin`, `America/Argentina/Buenos_Aires` or `UTC`.
fn zone_id(text: &str, pos: &mut usize) -> Option<Tz> {
    let rest = text.get(*pos..)?;
    let length = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+')))
        .unwrap_or(rest.len());
    let zone = rest.get(..length)?.parse::<Tz>().ok()?;
    *pos += length;
    Some(zone)
}

/// Reads an English month or day name, long or three-letter, ignoring case; returns its index.
fn name_index(bytes: &[u8], pos: &mut usize, names: &[&'static str]) -> Option<usize> {
    for candidate in [false, true] {
        for (index, name) in names.iter().enumerate() {
            let name = if candidate { short(name) } else { name };
            let end = *pos + name.len();
            if bytes
                .get(*pos..end)
                .is_some_and(|found| found.eq_ignore_ascii_case(name.as_bytes()))
            {
                *pos = end;
                return Some(index);
            }
        }
    }
    None
}

/// The year of a two-digit `value` in the hundred years starting 50 years before `pivot`.
fn two_digit_year(value: u32, pivot: i32) -> i32 {
    let low = pivot - 50;
    // `value` has two digits, so it fits.
    let year = low - low.rem_euclid(100) + value as i32;
    if year < low { year + 100 } else { year }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::format_timestamp;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn parse(pattern: &str, text: &str) -> Option<String> {
        JodaFormat::parse(pattern)
            .unwrap()
            .parse_time(text, Tz::UTC)
            .map(format_timestamp)
    }

    fn format(pattern: &str, time: &str) -> String {
        let mut out = String::new();
        JodaFormat::parse(pattern)
            .unwrap()
            .format(&utc(time), &mut out);
        out
    }

    #[test]
    fn nginx_time_with_offsets_is_converted_to_utc() {
        let nginx = "dd/MMM/yyyy:HH:mm:ss Z";
        assert_eq!(
            parse(nginx, "05/Mar/2024:10:20:30 +0100").as_deref(),
            Some("2024-03-05T09:20:30.000Z")
        );
        assert_eq!(
            parse(nginx, "31/Dec/2023:23:59:59 -0530").as_deref(),
            Some("2024-01-01T05:29:59.000Z")
        );
        assert_eq!(
            parse(nginx, "05/mar/2024:10:20:30 +0000").as_deref(),
            Some("2024-03-05T10:20:30.000Z")
        );
    }

    #[test]
    fn offsets_parse_with_or_without_colon_and_as_z() {
        let pattern = "yyyy-MM-dd'T'HH:mm:ssZZ";
        assert_eq!(
            parse(pattern, "2024-03-05T10:00:00+01:00").as_deref(),
            Some("2024-03-05T09:00:00.000Z")
        );
        assert_eq!(
            parse(pattern, "2024-03-05T10:00:00+0200").as_deref(),
            Some("2024-03-05T08:00:00.000Z")
        );
        assert_eq!(
            parse(pattern, "2024-03-05T10:00:00Z").as_deref(),
            Some("2024-03-05T10:00:00.000Z")
        );
    }

    #[test]
    fn zone_ids_apply_the_zone_rules_of_the_date() {
        let pattern = "yyyy-MM-dd HH:mm:ss ZZZ";
        assert_eq!(
            parse(pattern, "2024-01-15 12:00:00 Europe/Berlin").as_deref(),
            Some("2024-01-15T11:00:00.000Z")
        );
        assert_eq!(
            parse(pattern, "2024-07-15 12:00:00 Europe/Berlin").as_deref(),
            Some("2024-07-15T10:00:00.000Z")
        );
        assert_eq!(
            parse(
                pattern,
                "2024-07-15 12:00:00 America/Argentina/Buenos_Aires"
            )
            .as_deref(),
            Some("2024-07-15T15:00:00.000Z")
        );
        assert_eq!(parse(pattern, "2024-07-15 12:00:00 Mars/Olympus"), None);
    }

    #[test]
    fn zone_less_text_is_read_in_the_default_zone() {
        let format = JodaFormat::parse("yyyy-MM-dd HH:mm").unwrap();
        let time = format.parse_time("2024-07-15 12:00", chrono_tz::America::New_York);
        assert_eq!(time, Some(utc("2024-07-15T16:00:00Z")));
    }

    #[test]
    fn fractions_keep_their_digits_up_to_nanoseconds() {
        let pattern = "HH:mm:ss.SSS";
        let format = JodaFormat::parse(pattern).unwrap();
        let time = format.parse_time("10:00:00.5", Tz::UTC).unwrap();
        assert_eq!(time.nanosecond(), 500_000_000);
        let time = format.parse_time("10:00:00.123456789", Tz::UTC).unwrap();
        assert_eq!(time.nanosecond(), 123_456_789);
        assert_eq!(
            format_pattern_of("HH:mm:ss.SSSSSS", time),
            "10:00:00.123456"
        );
        assert_eq!(format_pattern_of("s.S", time), "0.1");
    }

    fn format_pattern_of(pattern: &str, time: DateTime<Utc>) -> String {
        let mut out = String::new();
        JodaFormat::parse(pattern).unwrap().format(&time, &mut out);
        out
    }

    #[test]
    fn twelve_hour_clock_and_names_parse() {
        assert_eq!(
            parse("EEE, d MMMM yyyy h:mm a", "Tue, 5 March 2024 1:07 PM").as_deref(),
            Some("2024-03-05T13:07:00.000Z")
        );
        assert_eq!(
            parse("EEEE hh:mm a dd MMM yy", "Sunday 12:30 am 07 Jan 24").as_deref(),
            Some("2024-01-07T00:30:00.000Z")
        );
        assert_eq!(
            parse("dd.MM.yy", "01.02.99").as_deref(),
            Some("1999-02-01T00:00:00.000Z")
        );
    }

    #[test]
    fn adjacent_numbers_parse_at_their_width() {
        assert_eq!(
            parse("yyyyMMddHHmmss", "20240305102030").as_deref(),
            Some("2024-03-05T10:20:30.000Z")
        );
    }

    #[test]
    fn quoted_literals_and_escaped_quotes_are_literal_text() {
        assert_eq!(
            format("yyyy-MM-dd'T'HH''mm", "2024-03-05T10:20:30Z"),
            "2024-03-05T10'20"
        );
        assert_eq!(format("'at' h a", "2024-03-05T00:20:30Z"), "at 12 AM");
        assert_eq!(
            parse("yyyy-MM-dd'T'HH 'o''clock'", "2024-03-05T10 o'clock").as_deref(),
            Some("2024-03-05T10:00:00.000Z")
        );
    }

    #[test]
    fn formatting_round_trips_through_parsing() {
        let time = utc("2024-03-05T09:08:07.123Z");
        for pattern in [
            "dd/MMM/yyyy:HH:mm:ss.SSS Z",
            "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
            "EEEE, MMMM d yyyy hh:mm:ss.SSS a ZZZ",
            "yy.M.d H:m:s.SSS",
        ] {
            let mut text = String::new();
            JodaFormat::parse(pattern).unwrap().format(&time, &mut text);
            let back = JodaFormat::parse(pattern)
                .unwrap()
                .parse_time(&text, Tz::UTC);
            assert_eq!(back, Some(time), "{pattern}: {text}");
        }
        assert_eq!(
            format("dd/MMM/yyyy:HH:mm:ss Z EEE", "2024-03-05T09:08:07Z"),
            "05/Mar/2024:09:08:07 +0000 Tue"
        );
        assert_eq!(format("yyyy.MM.dd", "2024-03-05T09:08:07Z"), "2024.03.05");
    }

    #[test]
    fn bad_input_is_none() {
        let nginx = "dd/MMM/yyyy:HH:mm:ss Z";
        for text in [
            "",
            "05/Mar/2024:10:20:30",
            "05/Mar/2024:10:20:30 +0100 trailing",
            "32/Mar/2024:10:20:30 +0100",
            "30/Feb/2024:10:20:30 +0100",
            "05/Foo/2024:10:20:30 +0100",
            "05/Mar/2024:25:20:30 +0100",
            "05/Mar/2024:10:20:30 +2500",
            "05/Mar/2024:10:20:30 0100",
            "xx/Mar/2024:10:20:30 +0100",
            "05/Mar/2024:10:20:30 +01é",
        ] {
            assert_eq!(parse(nginx, text), None, "{text:?}");
        }
        assert_eq!(parse("h a", "13 PM"), None);
    }

    #[test]
    fn bad_patterns_are_errors_naming_the_pattern() {
        let error = JodaFormat::parse("yyyy-MM-ddTHH").unwrap_err().to_string();
        assert_eq!(
            error,
            "date pattern `yyyy-MM-ddTHH`: unsupported letter `T`: use y M d H h m s S a Z E, \
             and quote literal text ('T')"
        );
        let error = JodaFormat::parse("HH 'o").unwrap_err().to_string();
        assert_eq!(
            error,
            "date pattern `HH 'o`: quoted text has no closing `'`: close it, or write `''` for a quote"
        );
        assert!(JodaFormat::parse("ss.SSSSSSSSSS").is_err());
    }

    #[test]
    fn missing_year_is_the_current_year() {
        let time = JodaFormat::parse("MMM d HH:mm:ss")
            .unwrap()
            .parse_time("Mar 5 10:00:00", Tz::UTC)
            .unwrap();
        assert_eq!(time.year(), Utc::now().year());
    }

    #[test]
    fn iso8601_variants_parse() {
        let iso = |text| parse_iso8601(text, Tz::UTC).map(format_timestamp);
        for (text, expected) in [
            ("2024-03-05T10:00:00Z", "2024-03-05T10:00:00.000Z"),
            ("2024-03-05T10:00:00.123Z", "2024-03-05T10:00:00.123Z"),
            ("2024-03-05T10:00:00,5+01:00", "2024-03-05T09:00:00.500Z"),
            ("2024-03-05 10:00:00-0230", "2024-03-05T12:30:00.000Z"),
            ("2024-03-05T10:00:00", "2024-03-05T10:00:00.000Z"),
            ("2024-03-05T10:00", "2024-03-05T10:00:00.000Z"),
            ("2024-03-05", "2024-03-05T00:00:00.000Z"),
            (
                "2024-03-05T10:00:00.123456789123+00",
                "2024-03-05T10:00:00.123Z",
            ),
        ] {
            assert_eq!(iso(text).as_deref(), Some(expected), "{text}");
        }
        for text in [
            "2024-3-5",
            "2024-03-05T10",
            "2024-03-05X10:00",
            "2024-03-05T10:00:00 Z",
        ] {
            assert_eq!(iso(text), None, "{text}");
        }
        assert_eq!(
            parse_iso8601("2024-07-15T12:00:00", chrono_tz::Europe::Berlin),
            Some(utc("2024-07-15T10:00:00Z"))
        );
    }

    #[test]
    fn two_digit_years_fall_in_the_century_around_the_pivot() {
        assert_eq!(two_digit_year(24, 1995), 2024);
        assert_eq!(two_digit_year(44, 1995), 2044);
        assert_eq!(two_digit_year(45, 1995), 1945);
        assert_eq!(two_digit_year(99, 1995), 1999);
    }
}
