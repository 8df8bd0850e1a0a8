//! Joda-Time date patterns (`dd/MMM/yyyy:HH:mm:ss Z`, as Logstash users write them),
//! compiled once into items, used to parse times (date filter) and to format them (templates).
//! Parsing is a hand-written scanner over the compiled items: no format string is re-read per call.

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

/// A compiled Joda-style pattern.
#[derive(Debug, Clone)]
pub struct JodaFormat {
    items: Vec<Item>,
    has_year: bool,
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

/// One compiled element of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Item {
    /// Text matched (ASCII case-insensitively, as Joda does) and printed as is.
    Literal(Box<str>),
    /// A decimal field: printed zero-padded to `min_digits`, parsed from 1 to `max_digits` digits.
    Number {
        field: NumberField,
        min_digits: u8,
        max_digits: u8,
    },
    /// `yy`: two digits mapped into the century around the year the pattern was compiled
    /// (Joda's pivot); when `lenient`, other digit counts are read as a full year.
    TwoDigitYear { lenient: bool, lowest_year: i32 },
    /// `S…`: fraction of a second, printed with `digits` digits, parsed from 1 to 9 digits.
    Fraction { digits: u8 },
    /// `MMM` / `MMMM`.
    MonthName(NameWidth),
    /// `EEE` / `EEEE`; parsed but not checked against the date.
    WeekdayName(NameWidth),
    /// `a`: AM/PM.
    HalfDay,
    /// `Z` (`+0100`) or `ZZ` (`+01:00`); parsing accepts either form and `Z` for UTC.
    Offset { colon: bool },
    /// `ZZZ`: a zone id such as `Europe/Berlin`.
    ZoneId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberField {
    Year,
    Month,
    Day,
    Hour24,
    Hour12,
    Minute,
    Second,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameWidth {
    Short,
    Long,
}

const MONTH_NAMES: [&str; 12] = [
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

const WEEKDAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const SUPPORTED_LETTERS: &str =
    "supported letters are y Y M d H h m s S a Z E; quote literal text ('T')";

impl JodaFormat {
    /// Compiles `pattern`.
    pub fn parse(pattern: &str) -> Result<JodaFormat, JodaError> {
        let error = |reason: String| JodaError {
            pattern: pattern.to_string(),
            reason,
        };
        if pattern.is_empty() {
            return Err(error("the pattern is empty".to_string()));
        }
        let tokens = tokenize(pattern).map_err(error)?;
        let lowest_two_digit_year = Utc::now().year() - 50;
        let mut items = Vec::with_capacity(tokens.len());
        for (index, token) in tokens.iter().enumerate() {
            let next_is_numeric = tokens.get(index + 1).is_some_and(Token::is_numeric);
            let item = match *token {
                Token::Literal(ref text) => Item::Literal(text.as_str().into()),
                Token::Letter { letter, count, at } => {
                    compile_letter(letter, count, next_is_numeric, lowest_two_digit_year)
                        .ok_or_else(|| error(unsupported(letter, count, at)))?
                }
            };
            items.push(item);
        }
        let has_year = items.iter().any(|item| {
            matches!(
                item,
                Item::TwoDigitYear { .. }
                    | Item::Number {
                        field: NumberField::Year,
                        ..
                    }
            )
        });
        Ok(JodaFormat { items, has_year })
    }

    /// Appends `time` formatted with this pattern (in UTC) to `out`.
    pub fn format(&self, time: &DateTime<Utc>, out: &mut String) {
        for item in &self.items {
            match item {
                Item::Literal(text) => out.push_str(text),
                Item::Number {
                    field, min_digits, ..
                } => {
                    let value = match field {
                        NumberField::Year => time.year(),
                        NumberField::Month => time.month() as i32,
                        NumberField::Day => time.day() as i32,
                        NumberField::Hour24 => time.hour() as i32,
                        NumberField::Hour12 => time.hour12().1 as i32,
                        NumberField::Minute => time.minute() as i32,
                        NumberField::Second => time.second() as i32,
                    };
                    push_padded(out, value, *min_digits);
                }
                Item::TwoDigitYear { .. } => push_padded(out, time.year().rem_euclid(100), 2),
                Item::Fraction { digits } => {
                    let nanos = time.nanosecond().min(999_999_999);
                    let value = nanos / 10u32.pow(9 - u32::from(*digits));
                    push_padded(out, value as i32, *digits);
                }
                Item::MonthName(width) => {
                    let name = MONTH_NAMES[time.month0() as usize % 12];
                    push_name(out, name, *width);
                }
                Item::WeekdayName(width) => {
                    let name = WEEKDAY_NAMES[time.weekday().num_days_from_monday() as usize % 7];
                    push_name(out, name, *width);
                }
                Item::HalfDay => out.push_str(if time.hour() < 12 { "AM" } else { "PM" }),
                Item::Offset { colon: false } => out.push_str("+0000"),
                Item::Offset { colon: true } => out.push_str("+00:00"),
                Item::ZoneId => out.push_str("UTC"),
            }
        }
    }

    /// Parses `text` with this pattern; zone-less text is read in `default_zone`.
    ///
    /// The whole text must match. Fields the pattern lacks default as in Joda (month and day 1,
    /// time 00:00:00), except the year: without one, the current year is assumed, or the
    /// previous one for a December date parsed in January (as Logstash does for syslog times).
    pub fn parse_time(&self, text: &str, default_zone: Tz) -> Option<DateTime<Utc>> {
        let mut cursor = Cursor::new(text);
        let mut parsed = ParsedFields::default();
        for item in &self.items {
            match item {
                Item::Literal(literal) => {
                    if !cursor.eat_ignore_case(literal) {
                        return None;
                    }
                }
                Item::Number {
                    field, max_digits, ..
                } => {
                    let (value, _) = cursor.number(usize::from(*max_digits))?;
                    match field {
                        NumberField::Year => parsed.year = Some(i32::try_from(value).ok()?),
                        NumberField::Month => parsed.month = value,
                        NumberField::Day => parsed.day = value,
                        NumberField::Hour24 => parsed.hour = value,
                        NumberField::Hour12 => {
                            if !(1..=12).contains(&value) {
                                return None;
                            }
                            parsed.hour12 = Some(value % 12);
                        }
                        NumberField::Minute => parsed.minute = value,
                        NumberField::Second => parsed.second = value,
                    }
                }
                Item::TwoDigitYear {
                    lenient,
                    lowest_year,
                } => {
                    let max_digits = if *lenient { 9 } else { 2 };
                    let (value, digits) = cursor.number(max_digits)?;
                    let value = i32::try_from(value).ok()?;
                    parsed.year = Some(if digits == 2 {
                        let mut year = lowest_year - lowest_year.rem_euclid(100) + value;
                        if year < *lowest_year {
                            year += 100;
                        }
                        year
                    } else {
                        value
                    });
                }
                Item::Fraction { .. } => parsed.nanos = cursor.fraction_nanos()?,
                Item::MonthName(_) => parsed.month = cursor.name(&MONTH_NAMES)? as u32 + 1,
                Item::WeekdayName(_) => {
                    cursor.name(&WEEKDAY_NAMES)?;
                }
                Item::HalfDay => {
                    parsed.pm = Some(if cursor.eat_ignore_case("AM") {
                        false
                    } else if cursor.eat_ignore_case("PM") {
                        true
                    } else {
                        return None;
                    });
                }
                Item::Offset { .. } => parsed.offset_seconds = Some(cursor.offset()?),
                Item::ZoneId => parsed.zone = Some(cursor.zone_id()?),
            }
        }
        if !cursor.is_done() {
            return None;
        }
        if let Some(hour) = parsed.hour12 {
            parsed.hour = hour + if parsed.pm == Some(true) { 12 } else { 0 };
        }
        let year = match parsed.year {
            Some(year) => year,
            None if self.has_year => return None,
            None => {
                let now = Utc::now();
                if parsed.month == 12 && now.month() == 1 {
                    now.year() - 1
                } else {
                    now.year()
                }
            }
        };
        let local = NaiveDate::from_ymd_opt(year, parsed.month, parsed.day)?.and_hms_nano_opt(
            parsed.hour,
            parsed.minute,
            parsed.second,
            parsed.nanos,
        )?;
        to_utc(
            local,
            parsed.offset_seconds,
            parsed.zone.unwrap_or(default_zone),
        )
    }
}

/// What a pattern's items read from one text.
#[derive(Debug)]
struct ParsedFields {
    year: Option<i32>,
    month: u32,
    day: u32,
    hour: u32,
    hour12: Option<u32>,
    pm: Option<bool>,
    minute: u32,
    second: u32,
    nanos: u32,
    offset_seconds: Option<i32>,
    zone: Option<Tz>,
}

impl Default for ParsedFields {
    fn default() -> Self {
        ParsedFields {
            year: None,
            month: 1,
            day: 1,
            hour: 0,
            hour12: None,
            pm: None,
            minute: 0,
            second: 0,
            nanos: 0,
            offset_seconds: None,
            zone: None,
        }
    }
}

/// The instant of `local`, a wall-clock time at UTC offset `offset_seconds` when known,
/// else in `zone`. A wall-clock time repeated by a DST change is read as the earlier instant;
/// one skipped by a DST change is shifted by the offset in force just before it (as Joda does).
pub(crate) fn to_utc(
    local: NaiveDateTime,
    offset_seconds: Option<i32>,
    zone: Tz,
) -> Option<DateTime<Utc>> {
    if let Some(offset) = offset_seconds {
        let utc = local.checked_sub_signed(TimeDelta::seconds(i64::from(offset)))?;
        return Some(Utc.from_utc_datetime(&utc));
    }
    if zone == Tz::UTC {
        return Some(Utc.from_utc_datetime(&local));
    }
    match zone.from_local_datetime(&local) {
        LocalResult::Single(time) | LocalResult::Ambiguous(time, _) => {
            Some(time.with_timezone(&Utc))
        }
        LocalResult::None => {
            let before = local.checked_sub_signed(TimeDelta::hours(3))?;
            let offset = zone.offset_from_utc_datetime(&before);
            let utc = local.checked_sub_signed(TimeDelta::seconds(i64::from(
                offset.fix().local_minus_utc(),
            )))?;
            Some(Utc.from_utc_datetime(&utc))
        }
    }
}

/// A position in a text being parsed; shared with the date filter's ISO8601 parser.
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub(crate) fn new(text: &'a str) -> Cursor<'a> {
        Cursor {
            bytes: text.as_bytes(),
            text,
            position: 0,
        }
    }

    /// Whether the whole text has been consumed.
    pub(crate) fn is_done(&self) -> bool {
        self.position >= self.bytes.len()
    }

    /// The next byte, not consumed.
    pub(crate) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    /// Consumes `byte` if it is next.
    pub(crate) fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `literal` if it is next, ignoring ASCII case.
    fn eat_ignore_case(&mut self, literal: &str) -> bool {
        let end = self.position + literal.len();
        match self.bytes.get(self.position..end) {
            Some(next) if next.eq_ignore_ascii_case(literal.as_bytes()) => {
                self.position = end;
                true
            }
            _ => false,
        }
    }

    /// Reads 1 to `max_digits` decimal digits (at most 9); returns the value and the digit count.
    pub(crate) fn number(&mut self, max_digits: usize) -> Option<(u32, usize)> {
        let max_digits = max_digits.min(9);
        let mut value = 0u32;
        let mut digits = 0;
        while digits < max_digits {
            match self.peek() {
                Some(byte @ b'0'..=b'9') => {
                    value = value * 10 + u32::from(byte - b'0');
                    digits += 1;
                    self.position += 1;
                }
                _ => break,
            }
        }
        (digits > 0).then_some((value, digits))
    }

    /// Reads exactly `digits` decimal digits.
    pub(crate) fn fixed_number(&mut self, digits: usize) -> Option<u32> {
        let start = self.position;
        match self.number(digits) {
            Some((value, read)) if read == digits => Some(value),
            _ => {
                self.position = start;
                None
            }
        }
    }

    /// Reads a fraction of a second of 1 to 9 digits, as nanoseconds.
    pub(crate) fn fraction_nanos(&mut self) -> Option<u32> {
        let (value, digits) = self.number(9)?;
        Some(value * 10u32.pow(9 - digits as u32))
    }

    /// Reads a UTC offset as Joda does: `Z`, or `+HH`, `+HHMM`, `+HH:MM` (or `-`); in seconds.
    pub(crate) fn offset(&mut self) -> Option<i32> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let hours = self.fixed_number(2)?;
        let colon = self.eat(b':');
        let minutes = match self.fixed_number(2) {
            Some(minutes) => minutes,
            None if colon => return None,
            None => 0,
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 3600 + minutes * 60) as i32)
    }

    /// Reads the longest zone id (`Europe/Berlin`, `UTC`, `Etc/GMT+5`) at the position.
    fn zone_id(&mut self) -> Option<Tz> {
        let rest = self.text.get(self.position..)?;
        let run = rest
            .bytes()
            .take_while(|byte| byte.is_ascii_alphanumeric() || b"/_+-".contains(byte))
            .count();
        (1..=run).rev().find_map(|length| {
            let zone = rest.get(..length)?.parse::<Tz>().ok()?;
            self.position += length;
            Some(zone)
        })
    }

    /// Reads an English name from `names`, full or abbreviated to three letters, ignoring case;
    /// returns its index.
    fn name(&mut self, names: &[&str]) -> Option<usize> {
        let prefix = self.bytes.get(self.position..self.position + 3)?;
        let index = names.iter().position(|name| {
            name.as_bytes()
                .get(..3)
                .is_some_and(|short| short.eq_ignore_ascii_case(prefix))
        })?;
        if !names
            .get(index)
            .is_some_and(|full| self.eat_ignore_case(full))
        {
            self.position += 3;
        }
        Some(index)
    }
}

/// One lexical element of a pattern.
#[derive(Debug)]
enum Token {
    Literal(String),
    Letter {
        letter: char,
        count: usize,
        at: usize,
    },
}

impl Token {
    /// Whether the token reads digits (Joda then reads a preceding year with a fixed width).
    fn is_numeric(&self) -> bool {
        match *self {
            Token::Literal(_) => false,
            Token::Letter { letter, count, .. } => match letter {
                'M' => count <= 2,
                'y' | 'Y' | 'd' | 'H' | 'h' | 'm' | 's' | 'S' => true,
                _ => false,
            },
        }
    }
}

/// Splits a pattern into runs of one letter and literal text (`'…'` quoted, `''` a quote).
fn tokenize(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\'' {
            if chars.next_if(|&(_, next)| next == '\'').is_some() {
                literal.push('\'');
                continue;
            }
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "quote at byte {at} is not closed; close it with `'` (write `''` for a quote)"
                        ));
                    }
                    Some((_, '\'')) => {
                        if chars.next_if(|&(_, next)| next == '\'').is_some() {
                            literal.push('\'');
                        } else {
                            break;
                        }
                    }
                    Some((_, quoted)) => literal.push(quoted),
                }
            }
        } else if c.is_ascii_alphabetic() {
            let mut count = 1;
            while chars.next_if(|&(_, next)| next == c).is_some() {
                count += 1;
            }
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Letter {
                letter: c,
                count,
                at,
            });
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(tokens)
}

/// The item for `count` repetitions of `letter`, or `None` if unsupported.
fn compile_letter(
    letter: char,
    count: usize,
    next_is_numeric: bool,
    lowest_two_digit_year: i32,
) -> Option<Item> {
    let digits = u8::try_from(count).ok()?;
    let number = |field, max_digits: u8| Item::Number {
        field,
        min_digits: digits,
        max_digits: max_digits.max(digits),
    };
    Some(match letter {
        'y' | 'Y' if count == 2 => Item::TwoDigitYear {
            lenient: !next_is_numeric,
            lowest_year: lowest_two_digit_year,
        },
        'y' | 'Y' if count <= 9 => {
            number(NumberField::Year, if next_is_numeric { digits } else { 9 })
        }
        'M' if count <= 2 => number(NumberField::Month, 2),
        'M' if count == 3 => Item::MonthName(NameWidth::Short),
        'M' => Item::MonthName(NameWidth::Long),
        'd' if count <= 2 => number(NumberField::Day, 2),
        'H' if count <= 2 => number(NumberField::Hour24, 2),
        'h' if count <= 2 => number(NumberField::Hour12, 2),
        'm' if count <= 2 => number(NumberField::Minute, 2),
        's' if count <= 2 => number(NumberField::Second, 2),
        'S' if count <= 9 => Item::Fraction { digits },
        'a' => Item::HalfDay,
        'Z' if count == 1 => Item::Offset { colon: false },
        'Z' if count == 2 => Item::Offset { colon: true },
        'Z' => Item::ZoneId,
        'E' if count <= 3 => Item::WeekdayName(NameWidth::Short),
        'E' => Item::WeekdayName(NameWidth::Long),
        _ => return None,
    })
}

/// Why `count` × `letter` at byte `at` cannot be compiled.
fn unsupported(letter: char, count: usize, at: usize) -> String {
    let run: String = std::iter::repeat_n(letter, count).collect();
    if "yYdHhmsS".contains(letter) {
        format!("`{run}` at byte {at} has too many letters; {SUPPORTED_LETTERS}")
    } else {
        format!("unsupported pattern letter `{letter}` at byte {at}; {SUPPORTED_LETTERS}")
    }
}

/// Appends `value` zero-padded to `width` digits.
fn push_padded(out: &mut String, value: i32, width: u8) {
    if value < 0 {
        out.push('-');
    }
    let magnitude = value.unsigned_abs();
    let mut digits = [0u8; 10];
    let mut length = 0;
    let mut rest = magnitude;
    loop {
        digits[length] = b'0' + (rest % 10) as u8;
        length += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for _ in length..usize::from(width) {
        out.push('0');
    }
    for &digit in digits[..length].iter().rev() {
        out.push(char::from(digit));
    }
}

fn push_name(out: &mut String, name: &str, width: NameWidth) {
    match width {
        NameWidth::Short => out.push_str(name.get(..3).unwrap_or(name)),
        NameWidth::Long => out.push_str(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn parse(pattern: &str, text: &str) -> Option<DateTime<Utc>> {
        JodaFormat::parse(pattern)
            .unwrap()
            .parse_time(text, Tz::UTC)
    }

    fn format(pattern: &str, time: &str) -> String {
        let mut out = String::new();
        JodaFormat::parse(pattern)
            .unwrap()
            .format(&utc(time), &mut out);
        out
    }

    const NGINX: &str = "dd/MMM/yyyy:HH:mm:ss Z";

    #[test]
    fn nginx_time_with_offsets_parses_to_utc() {
        assert_eq!(
            parse(NGINX, "05/Mar/2024:10:20:30 +0100"),
            Some(utc("2024-03-05T09:20:30Z"))
        );
        assert_eq!(
            parse(NGINX, "31/Dec/2023:23:59:59 -0530"),
            Some(utc("2024-01-01T05:29:59Z"))
        );
        assert_eq!(
            parse(NGINX, "01/jan/2024:00:00:00 +0000"),
            Some(utc("2024-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn offset_parsing_accepts_colon_and_z_forms() {
        for text in ["2024-03-05T10:20:30+01:00", "2024-03-05T10:20:30+0100"] {
            assert_eq!(
                parse("yyyy-MM-dd'T'HH:mm:ssZZ", text),
                Some(utc("2024-03-05T09:20:30Z"))
            );
        }
        assert_eq!(
            parse("yyyy-MM-dd'T'HH:mm:ssZ", "2024-03-05T10:20:30Z"),
            Some(utc("2024-03-05T10:20:30Z"))
        );
    }

    #[test]
    fn zone_ids_are_parsed_and_applied_with_dst() {
        let pattern = "yyyy-MM-dd HH:mm:ss ZZZ";
        assert_eq!(
            parse(pattern, "2024-07-01 12:00:00 Europe/Berlin"),
            Some(utc("2024-07-01T10:00:00Z"))
        );
        assert_eq!(
            parse(pattern, "2024-01-01 12:00:00 Europe/Berlin"),
            Some(utc("2024-01-01T11:00:00Z"))
        );
        assert_eq!(
            parse(pattern, "2024-01-01 12:00:00 America/Port-au-Prince"),
            Some(utc("2024-01-01T17:00:00Z"))
        );
        assert_eq!(parse(pattern, "2024-01-01 12:00:00 Mars/Olympus"), None);
    }

    #[test]
    fn zone_less_text_is_read_in_the_default_zone() {
        let format = JodaFormat::parse("yyyy-MM-dd HH:mm:ss").unwrap();
        assert_eq!(
            format.parse_time("2024-07-01 12:00:00", chrono_tz::America::New_York),
            Some(utc("2024-07-01T16:00:00Z"))
        );
        // 02:30 does not exist on 2024-03-31 in Berlin: shifted by the winter offset.
        assert_eq!(
            format.parse_time("2024-03-31 02:30:00", chrono_tz::Europe::Berlin),
            Some(utc("2024-03-31T01:30:00Z"))
        );
        // 02:30 happens twice on 2024-10-27 in Berlin: the earlier instant is taken.
        assert_eq!(
            format.parse_time("2024-10-27 02:30:00", chrono_tz::Europe::Berlin),
            Some(utc("2024-10-27T00:30:00Z"))
        );
    }

    #[test]
    fn fractions_of_any_length_are_read_and_printed() {
        let expected = |nanos: u32| utc("2024-03-05T10:20:30Z").with_nanosecond(nanos).unwrap();
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 10:20:30.123"),
            Some(expected(123_000_000))
        );
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss.SSS", "2024-03-05 10:20:30.123456789"),
            Some(expected(123_456_789))
        );
        assert_eq!(
            parse("yyyy-MM-dd HH:mm:ss.S", "2024-03-05 10:20:30.5"),
            Some(expected(500_000_000))
        );
        assert_eq!(
            format("HH:mm:ss.SSS|S|SSSSSS", "2024-03-05T10:20:30.123456Z"),
            "10:20:30.123|1|123456"
        );
    }

    #[test]
    fn twelve_hour_clock_uses_am_pm() {
        let pattern = "MM/dd/yyyy hh:mm:ss a";
        assert_eq!(
            parse(pattern, "03/05/2024 12:05:00 AM"),
            Some(utc("2024-03-05T00:05:00Z"))
        );
        assert_eq!(
            parse(pattern, "03/05/2024 12:05:00 pm"),
            Some(utc("2024-03-05T12:05:00Z"))
        );
        assert_eq!(
            parse(pattern, "03/05/2024 01:05:00 PM"),
            Some(utc("2024-03-05T13:05:00Z"))
        );
        assert_eq!(parse(pattern, "03/05/2024 13:05:00 PM"), None);
        assert_eq!(format("h:mm a|hh", "2024-03-05T13:05:00Z"), "1:05 PM|01");
    }

    #[test]
    fn month_and_weekday_names_are_english_short_or_long() {
        let pattern = "EEE, d MMM yyyy HH:mm:ss Z";
        assert_eq!(
            parse(pattern, "Tue, 5 Mar 2024 10:20:30 +0000"),
            Some(utc("2024-03-05T10:20:30Z"))
        );
        assert_eq!(
            parse("EEEE d MMMM yyyy", "tuesday 5 MARCH 2024"),
            Some(utc("2024-03-05T00:00:00Z"))
        );
        assert_eq!(parse("d MMM yyyy", "5 Mrz 2024"), None);
        assert_eq!(
            format("EEE EEEE MMM MMMM", "2024-03-05T00:00:00Z"),
            "Tue Tuesday Mar March"
        );
    }

    #[test]
    fn quoted_literals_and_escaped_quotes_work() {
        assert_eq!(
            format("yyyy-MM-dd'T'HH''mm'''o''clock'", "2024-03-05T10:20:30Z"),
            "2024-03-05T10'20'o'clock"
        );
        assert_eq!(
            parse("yyyy-MM-dd'T'HH:mm", "2024-03-05t10:20"),
            Some(utc("2024-03-05T10:20:00Z"))
        );
    }

    #[test]
    fn adjacent_numeric_fields_use_fixed_width_years() {
        assert_eq!(
            parse("yyyyMMddHHmmss", "20240305102030"),
            Some(utc("2024-03-05T10:20:30Z"))
        );
        assert_eq!(format("yyyyMMdd", "2024-03-05T00:00:00Z"), "20240305");
    }

    #[test]
    fn two_digit_years_fall_in_the_century_around_now() {
        // Joda's pivot: the 100 years from 50 before to 49 after the current year.
        assert_eq!(
            parse("dd.MM.yy", "05.03.24"),
            Some(utc("2024-03-05T00:00:00Z"))
        );
        assert_eq!(
            parse("dd.MM.yy", "05.03.90"),
            Some(utc("1990-03-05T00:00:00Z"))
        );
        assert_eq!(
            parse("dd.MM.yy", "05.03.2031"),
            Some(utc("2031-03-05T00:00:00Z"))
        );
        assert_eq!(format("yy", "2024-03-05T00:00:00Z"), "24");
    }

    #[test]
    fn template_patterns_format_in_utc() {
        assert_eq!(
            format("yyyy.MM.dd", "2024-03-05T23:20:30+02:00"),
            "2024.03.05"
        );
        assert_eq!(format("yyyy.M.d H", "2024-03-05T07:20:30Z"), "2024.3.5 7");
        assert_eq!(
            format("Z ZZ ZZZ", "2024-03-05T07:20:30Z"),
            "+0000 +00:00 UTC"
        );
    }

    #[test]
    fn patterns_round_trip_through_format_and_parse() {
        let time = utc("2024-11-09T08:07:06.054Z");
        for pattern in [
            NGINX,
            "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
            "EEEE, dd MMMM yyyy hh:mm:ss.SSS a ZZZ",
            "yyyyMMddHHmmssSSS",
        ] {
            let format = JodaFormat::parse(pattern).unwrap();
            let mut text = String::new();
            format.format(&time, &mut text);
            let expected = if pattern == NGINX {
                time.with_nanosecond(0).unwrap()
            } else {
                time
            };
            assert_eq!(
                format.parse_time(&text, Tz::UTC),
                Some(expected),
                "{pattern}: {text}"
            );
        }
    }

    #[test]
    fn bad_inputs_return_none() {
        for text in [
            "",
            "05/Mar/2024:10:20:30",
            "05/Mar/2024:10:20:30 +0100 trailing",
            "32/Mar/2024:10:20:30 +0100",
            "29/Feb/2023:10:20:30 +0100",
            "05/Foo/2024:10:20:30 +0100",
            "05/Mar/2024:24:20:30 +0100",
            "05/Mar/2024:10:60:30 +0100",
            "05/Mar/2024:10:20:30 +2400",
            "05/Mar/2024:10:20:30 +01:",
            "05-Mar-2024:10:20:30 +0100",
            "é5/Mar/2024:10:20:30 +0100",
            "05/Ma",
        ] {
            assert_eq!(parse(NGINX, text), None, "{text:?}");
        }
    }

    #[test]
    fn missing_year_is_the_current_one() {
        let parsed = parse("MMM d HH:mm:ss", "Mar 5 10:20:30").unwrap();
        let now = Utc::now();
        assert_eq!((parsed.month(), parsed.day(), parsed.hour()), (3, 5, 10));
        assert!(parsed.year() == now.year() || parsed.year() == now.year() - 1);
    }

    #[test]
    fn bad_patterns_are_errors_naming_the_pattern() {
        let error = |pattern: &str| JodaFormat::parse(pattern).unwrap_err().to_string();
        assert_eq!(
            error("yyyy-MM-dd'T"),
            "date pattern `yyyy-MM-dd'T`: quote at byte 10 is not closed; close it with `'` (write `''` for a quote)"
        );
        assert_eq!(
            error("yyyy-QQ"),
            "date pattern `yyyy-QQ`: unsupported pattern letter `Q` at byte 5; supported letters are y Y M d H h m s S a Z E; quote literal text ('T')"
        );
        assert_eq!(
            error("SSSSSSSSSS"),
            "date pattern `SSSSSSSSSS`: `SSSSSSSSSS` at byte 0 has too many letters; supported letters are y Y M d H h m s S a Z E; quote literal text ('T')"
        );
        assert_eq!(error(""), "date pattern ``: the pattern is empty");
    }

    #[test]
    #[ignore = "benchmark: cargo test --release --lib joda -- --ignored --nocapture"]
    fn nginx_time_parses_fast() {
        let format = JodaFormat::parse(NGINX).unwrap();
        let started = std::time::Instant::now();
        let count = 2_000_000;
        for _ in 0..count {
            assert!(
                format
                    .parse_time(std::hint::black_box("05/Mar/2024:10:20:30 +0100"), Tz::UTC)
                    .is_some()
            );
        }
        let rate = count as f64 / started.elapsed().as_secs_f64();
        println!("{rate:.0} nginx times parsed per second");
    }
}
