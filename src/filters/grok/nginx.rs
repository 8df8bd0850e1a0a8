//! A hand-written parser for the lines of the bundled `NGINX_COMBINED` and `NGINX_MAIN` grok
//! patterns: it finds their capture groups where PCRE2 would, at a fraction of the cost, and
//! answers "not sure" where the regex's rules get subtle, so that the caller runs the regex.

use memchr::{memchr, memchr2};

/// The regex of `NGINX_ACCESS_COMMON` inside the expansions of `%{NGINX_COMBINED}` and
/// `%{NGINX_MAIN}` with the bundled patterns. The parser below implements exactly this regex;
/// any other (a name redefined in `patterns_dir` or `pattern_definitions`, an edited
/// patterns/nginx) is left to PCRE2. Group `_grok<n>` is capture group n + 1.
const ACCESS_COMMON_REGEX: &str = concat!(
    // $remote_addr - $remote_user [
    r#"(?<_grok0>\S+) - (?:-|(?<_grok1>.*?)) \["#,
    // HTTPDATE: MONTHDAY/MONTH/YEAR:TIME INT
    r#"(?<_grok2>(?:(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9]))/"#,
    r#"(?:\b(?:[Jj]an(?:uary|uar)?|[Ff]eb(?:ruary|ruar)?|[Mm](?:a|ä)?r(?:ch|z)?|[Aa]pr(?:il)?|[Mm]a(?:y|i)?|[Jj]un(?:e|i)?|[Jj]ul(?:y)?|[Aa]ug(?:ust)?|[Ss]ep(?:tember)?|[Oo](?:c|k)?t(?:ober)?|[Nn]ov(?:ember)?|[Dd]e(?:c|z)(?:ember)?)\b)/"#,
    r#"(?:(?>\d\d){1,2}):(?:(?!<[0-9])(?:(?:2[0123]|[01]?[0-9])):(?:(?:[0-5][0-9]))(?::(?:(?:(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?)))(?![0-9]))"#,
    r#" (?:(?:[+-]?(?:[0-9]+))))\] ""#,
    // NGINX_REQUEST: METHOD URL[ HTTP/VERSION], or -, or the raw quoted value
    r#"(?:(?:(?<_grok3>\b\w+\b) (?<_grok4>[^\s"]++)(?: HTTP/(?<_grok5>(?:(?:(?<![0-9.+-])(?>[+-]?(?:(?:[0-9]+(?:\.[0-9]+)?)|(?:\.[0-9]+)))))))?|-|(?<_grok6>(?:[^"\\]++|\\.)*+)))""#,
    // $status $body_bytes_sent
    r#" (?<_grok7>(?:[+-]?(?:[0-9]+))) (?:-|(?<_grok8>(?:[+-]?(?:[0-9]+)))) "#,
    // "$http_referer" "$http_user_agent"
    r#""(?:-|(?<_grok9>(?:[^"\\]++|\\.)*+))" "(?:-|(?<_grok10>(?:[^"\\]++|\\.)*+))""#,
);

/// What the expansions put before [`ACCESS_COMMON_REGEX`].
const FORMAT_PREFIX: &str = "(?:^(?:";
/// What `%{NGINX_COMBINED}` puts after it.
const COMBINED_SUFFIX: &str = ")$)";
/// What `%{NGINX_MAIN}` puts after it: ` "$http_x_forwarded_for"`.
const MAIN_SUFFIX: &str = r#") "(?:-|(?<_grok11>(?:[^"\\]++|\\.)*+))"$)"#;

/// Lines longer than this are left to the regex. The parser's answer does not depend on the
/// length, but PCRE2 abandons a match after `MATCH_LIMIT` (1,000,000) steps, and the filter
/// then tags the line `_groktimeout`. On lines made to be hard, this regex takes up to some 17
/// steps per byte, so below this length it stays far from the limit (see the test
/// `long_lines_stay_far_below_the_match_limit`). Real nginx lines are a few hundred bytes.
const MAX_LINE_BYTES: usize = 4 * 1024;

/// `05/Mar/2024:10:20:30 +0000`: the length of `$time_local` as nginx writes it.
const HTTP_DATE_LEN: usize = 26;

/// Month names as nginx writes them in `$time_local`.
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The capture groups of the two regexes, by group number.
#[derive(Debug, Clone, Copy)]
enum Group {
    Whole,
    SourceAddress,
    UserName,
    Time,
    Method,
    Url,
    Version,
    Info,
    Status,
    BodyBytes,
    Referrer,
    UserAgent,
    XForwardedFor,
}

/// Groups of the `NGINX_MAIN` regex, the larger of the two, counting group 0.
const GROUP_COUNT: usize = Group::XForwardedFor as usize + 1;

/// A part of the line, as byte offsets `(start, end)`.
type Span = (usize, usize);

/// The bundled nginx format a grok pattern expands to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NginxFormat {
    /// `%{NGINX_COMBINED}`
    Combined,
    /// `%{NGINX_MAIN}`: combined plus ` "$http_x_forwarded_for"`.
    Main,
}

/// What the parser says about one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// The regex matches; the groups are in the [`GroupSpans`].
    Matched,
    /// The regex does not match.
    NoMatch,
    /// The line holds something the parser leaves to the regex.
    NotSure,
}

/// Where each capture group matched, by group number (unset groups are `None`), the way
/// PCRE2's capture locations report them.
#[derive(Debug, Clone, Default)]
pub(super) struct GroupSpans([Option<Span>; GROUP_COUNT]);

impl GroupSpans {
    /// Where `group` matched in the last line the parser matched.
    pub(super) fn get(&self, group: usize) -> Option<Span> {
        self.0.get(group).copied().flatten()
    }

    fn set(&mut self, group: Group, span: Option<Span>) {
        if let Some(slot) = self.0.get_mut(group as usize) {
            *slot = span;
        }
    }

    fn fill(&mut self, line: &AccessLine, line_len: usize) {
        self.0 = Default::default();
        self.set(Group::Whole, Some((0, line_len)));
        self.set(Group::SourceAddress, Some(line.address));
        self.set(Group::UserName, line.user);
        self.set(Group::Time, Some(line.time));
        match line.request {
            Request::Line {
                method,
                url,
                version,
            } => {
                self.set(Group::Method, Some(method));
                self.set(Group::Url, Some(url));
                self.set(Group::Version, version);
            }
            Request::Dash => {}
            Request::Raw(info) => self.set(Group::Info, Some(info)),
        }
        let tail = &line.tail;
        self.set(Group::Status, Some(tail.status));
        self.set(Group::BodyBytes, tail.body_bytes);
        self.set(Group::Referrer, tail.referrer);
        self.set(Group::UserAgent, tail.user_agent);
        self.set(Group::XForwardedFor, tail.x_forwarded_for);
    }
}

/// A matched line: where each field is (`None`: the group is unset, e.g. written `-`).
struct AccessLine {
    address: Span,
    user: Option<Span>,
    time: Span,
    request: Request,
    tail: Tail,
}

/// The alternative of `NGINX_REQUEST` that matched.
enum Request {
    /// `METHOD URL[ HTTP/VERSION]`
    Line {
        method: Span,
        url: Span,
        version: Option<Span>,
    },
    /// `-`
    Dash,
    /// Anything else, kept raw.
    Raw(Span),
}

/// What follows the request: `" STATUS BYTES "REFERRER" "AGENT"[ "XFF"]`.
struct Tail {
    status: Span,
    body_bytes: Option<Span>,
    referrer: Option<Span>,
    user_agent: Option<Span>,
    x_forwarded_for: Option<Span>,
}

/// The parser cannot tell what the regex does with this line.
struct NotSure;

impl NginxFormat {
    /// The format whose bundled regex is exactly `regex` (an expanded grok pattern).
    pub(super) fn recognize(regex: &str) -> Option<NginxFormat> {
        let suffix = regex
            .strip_prefix(FORMAT_PREFIX)?
            .strip_prefix(ACCESS_COMMON_REGEX)?;
        match suffix {
            COMBINED_SUFFIX => Some(NginxFormat::Combined),
            MAIN_SUFFIX => Some(NginxFormat::Main),
            _ => None,
        }
    }

    /// Matches `line` as the regex would, filling `spans` when it matches. `ascii` says
    /// whether the line is pure ASCII.
    pub(super) fn parse(self, line: &str, ascii: bool, spans: &mut GroupSpans) -> Answer {
        if line.len() > MAX_LINE_BYTES || has_characters_left_to_the_regex(line, ascii) {
            return Answer::NotSure;
        }
        match self.parse_line(line.as_bytes()) {
            Ok(Some(access_line)) => {
                spans.fill(&access_line, line.len());
                Answer::Matched
            }
            Ok(None) => Answer::NoMatch,
            Err(NotSure) => Answer::NotSure,
        }
    }

    /// `^\S+ - (?:-|.*?) \[HTTPDATE\] "REQUEST" …$`.
    ///
    /// The regex backtracks as a whole, so each step below says why the place where it
    /// stops is the only one the regex can use, or tries the places in the regex's order.
    fn parse_line(self, line: &[u8]) -> Result<Option<AccessLine>, NotSure> {
        // `\S+ - `: the space is the only whitespace left on the line, so `\S+` must end at
        // the first space.
        let Some(address_end) = memchr(b' ', line).filter(|&end| end > 0) else {
            return Ok(None);
        };
        let Some(user_start) = expect(line, address_end, b" - ") else {
            return Ok(None);
        };
        // `(?:-|(?<user>.*?)) \[`: the lazy `.*?` stops at each ` [` in turn (a user name may
        // hold one) and the first from which the rest of the line matches wins.
        let mut search_from = user_start;
        while let Some(user_end) = next_space_bracket(line, search_from) {
            search_from = user_end + 1;
            let Some((time, request, tail)) = self.parse_from_time(line, user_end + 2)? else {
                continue;
            };
            // `-` is the first alternative: a user written `-` leaves the group unset.
            let user =
                (line.get(user_start..user_end) != Some(b"-")).then_some((user_start, user_end));
            return Ok(Some(AccessLine {
                address: (0, address_end),
                user,
                time,
                request,
                tail,
            }));
        }
        Ok(None)
    }

    /// `HTTPDATE\] "REQUEST" …$` from `time_start`, just after `[`.
    fn parse_from_time(
        self,
        line: &[u8],
        time_start: usize,
    ) -> Result<Option<(Span, Request, Tail)>, NotSure> {
        let time_end = time_start + HTTP_DATE_LEN;
        let canonical = line
            .get(time_start..time_end)
            .is_some_and(is_canonical_http_date)
            && line.get(time_end) == Some(&b']');
        if !canonical {
            // HTTPDATE holds no `]`, so it ends at the first one, and `] "` must follow.
            // Whether the text before it is an HTTPDATE (`5/März/24:1:02:03.5 -1`) is left
            // to the regex.
            let closing = line
                .get(time_start..)
                .and_then(|rest| memchr(b']', rest))
                .map(|offset| time_start + offset);
            return match closing {
                Some(closing) if expect(line, closing, b"] \"").is_some() => Err(NotSure),
                _ => Ok(None),
            };
        }
        let Some(request_start) = expect(line, time_end, b"] \"") else {
            return Ok(None);
        };
        Ok(self
            .parse_request(line, request_start)
            .map(|(request, tail)| ((time_start, time_end), request, tail)))
    }

    /// `REQUEST" …$` from `start`, just after the request's opening quote.
    ///
    /// The three alternatives are tried in the regex's order. Each ends at one place only
    /// (possessive or maximal runs) and the tail after it either matches or not, so the
    /// first alternative whose tail matches is the one PCRE2 reports, with the groups of the
    /// others unset.
    fn parse_request(self, line: &[u8], start: usize) -> Option<(Request, Tail)> {
        if let Some((method, url, version)) = request_line(line, start) {
            // With a version whose tail fails, the regex also tries without the version;
            // the URL then ends at ` HTTP/`, where no tail can start: nothing changes.
            let end = version.map_or(url.1, |version| version.1);
            if let Some(tail) = self.parse_tail(line, end) {
                let request = Request::Line {
                    method,
                    url,
                    version,
                };
                return Some((request, tail));
            }
        }
        if line.get(start) == Some(&b'-')
            && let Some(tail) = self.parse_tail(line, start + 1)
        {
            return Some((Request::Dash, tail));
        }
        let end = quoted_value_end(line, start);
        let tail = self.parse_tail(line, end)?;
        Some((Request::Raw((start, end)), tail))
    }

    /// `" STATUS BYTES "REFERRER" "AGENT"[ "XFF"]$` from `at`, the request's closing quote.
    /// Every part has one possible end, so there is nothing to backtrack into.
    fn parse_tail(self, line: &[u8], at: usize) -> Option<Tail> {
        let status_start = expect(line, at, b"\" ")?;
        let status_end = int_end(line, status_start)?;
        let bytes_start = expect(line, status_end, b" ")?;
        // `(?:-|INT) "`: a `-` followed by a space cannot start an INT.
        let (body_bytes, bytes_end) = if expect(line, bytes_start, b"- ").is_some() {
            (None, bytes_start + 1)
        } else {
            let end = int_end(line, bytes_start)?;
            (Some((bytes_start, end)), end)
        };
        let referrer_start = expect(line, bytes_end, b" \"")?;
        let (referrer, referrer_end) = optional_quoted_value(line, referrer_start)?;
        let agent_start = expect(line, referrer_end, b" \"")?;
        let (user_agent, agent_end) = optional_quoted_value(line, agent_start)?;
        let (x_forwarded_for, end) = match self {
            NginxFormat::Combined => (None, agent_end),
            NginxFormat::Main => {
                let forwarded_start = expect(line, agent_end, b" \"")?;
                optional_quoted_value(line, forwarded_start)?
            }
        };
        // `$`: the line holds no line break (see `has_characters_left_to_the_regex`).
        (end == line.len()).then_some(Tail {
            status: (status_start, status_end),
            body_bytes,
            referrer,
            user_agent,
            x_forwarded_for,
        })
    }
}

/// Whether `line` holds characters on which the parser's reading of the regex could be wrong,
/// so that it leaves the line to the regex: control characters (`\s` is more than the space;
/// `.` and `$` treat line breaks specially, and which characters are line breaks depends on
/// how PCRE2 was built), and, in non-ASCII lines, U+0080..=U+00A0 (NEL, NBSP) and the
/// Unicode line and paragraph separators. nginx writes none of these: it escapes them as `\xHH`.
fn has_characters_left_to_the_regex(line: &str, ascii: bool) -> bool {
    // A fold without early exit, which the compiler turns into a vector loop.
    let has_control = line
        .bytes()
        .fold(false, |found, byte| found | (byte < 0x20));
    has_control
        || (!ascii
            && line
                .chars()
                .any(|c| matches!(c, '\u{80}'..='\u{a0}' | '\u{2028}' | '\u{2029}')))
}

/// `05/Mar/2024:10:20:30 +0000`, as nginx writes `$time_local`: a text HTTPDATE surely
/// matches. (HTTPDATE also takes `5/march/24:1:02:03,5 7`; such dates go to the regex.)
fn is_canonical_http_date(date: &[u8]) -> bool {
    let &[
        day_tens,
        day_ones,
        b'/',
        month_1,
        month_2,
        month_3,
        b'/',
        year_1,
        year_2,
        year_3,
        year_4,
        b':',
        hour_tens,
        hour_ones,
        b':',
        minute_tens,
        minute_ones,
        b':',
        second_tens,
        second_ones,
        b' ',
        b'+' | b'-',
        zone_1,
        zone_2,
        zone_3,
        zone_4,
    ] = date
    else {
        return false;
    };
    let below = |tens: u8, ones: u8, limit: u8| {
        tens.is_ascii_digit() && ones.is_ascii_digit() && (tens - b'0') * 10 + (ones - b'0') < limit
    };
    // MONTHDAY 01-31 (its one-digit form goes to the regex), HOUR 00-23, MINUTE and SECOND 00-59.
    let day = below(day_tens, day_ones, 32) && (day_tens, day_ones) != (b'0', b'0');
    let digits = [
        year_1, year_2, year_3, year_4, zone_1, zone_2, zone_3, zone_4,
    ];
    day && MONTHS.contains(&&[month_1, month_2, month_3])
        && digits.iter().all(u8::is_ascii_digit)
        && below(hour_tens, hour_ones, 24)
        && below(minute_tens, minute_ones, 60)
        && below(second_tens, second_ones, 60)
}

/// The position of the space of the first ` [` at or after `from`.
fn next_space_bracket(line: &[u8], from: usize) -> Option<usize> {
    let mut search_from = from + 1;
    loop {
        let bracket = search_from + memchr(b'[', line.get(search_from..)?)?;
        if line.get(bracket - 1) == Some(&b' ') {
            return Some(bracket - 1);
        }
        search_from = bracket + 1;
    }
}

/// `\b\w+\b [^\s"]++(?: HTTP/NUMBER)?` at `start` (just after a `"`, so the first `\b` holds
/// when a word character follows): the method, URL and version.
fn request_line(line: &[u8], start: usize) -> Option<(Span, Span, Option<Span>)> {
    // `\w+` runs to the first non-word character, where `\b` holds; shorter runs end
    // between two word characters, where it does not. `\w` is ASCII only: PCRE2 runs
    // without UCP, in UTF and in byte mode alike.
    let method_end = start
        + line
            .get(start..)?
            .iter()
            .take_while(|byte| byte.is_ascii_alphanumeric() || **byte == b'_')
            .count();
    if method_end == start {
        return None;
    }
    let url_start = expect(line, method_end, b" ")?;
    // `[^\s"]++`: possessive, to the first space or quote.
    let url_end = line
        .get(url_start..)
        .and_then(|rest| memchr2(b' ', b'"', rest))
        .map_or(line.len(), |offset| url_start + offset);
    if url_end == url_start {
        return None;
    }
    let version = expect(line, url_end, b" HTTP/")
        .and_then(|version_start| Some((version_start, number_end(line, version_start)?)));
    Some(((start, method_end), (url_start, url_end), version))
}

/// Where `NUMBER` (BASE10NUM) starting at `start` ends. Its lookbehind `(?<![0-9.+-])` holds
/// after `HTTP/`; the rest is an atomic group, so its first match is the only one:
/// `[+-]?` then `[0-9]+(?:\.[0-9]+)?` or `\.[0-9]+`, each run as long as it goes.
fn number_end(line: &[u8], start: usize) -> Option<usize> {
    let unsigned_start = match line.get(start) {
        Some(b'+' | b'-') => start + 1,
        _ => start,
    };
    let integer_end = digits_end(line, unsigned_start);
    if integer_end > unsigned_start {
        return Some(fraction_end(line, integer_end).unwrap_or(integer_end));
    }
    fraction_end(line, unsigned_start)
}

/// Where `\.[0-9]+` starting at `at` ends.
fn fraction_end(line: &[u8], at: usize) -> Option<usize> {
    let digits_start = expect(line, at, b".")?;
    let end = digits_end(line, digits_start);
    (end > digits_start).then_some(end)
}

/// Where `INT` (`[+-]?[0-9]+`) starting at `start` ends. Everything that follows an INT in
/// these regexes starts with a space, so only the longest run of digits can be followed by it.
fn int_end(line: &[u8], start: usize) -> Option<usize> {
    let digits_start = match line.get(start) {
        Some(b'+' | b'-') => start + 1,
        _ => start,
    };
    let end = digits_end(line, digits_start);
    (end > digits_start).then_some(end)
}

/// Where the run of ASCII digits starting at `start` ends.
fn digits_end(line: &[u8], start: usize) -> usize {
    start
        + line.get(start..).map_or(0, |rest| {
            rest.iter().take_while(|byte| byte.is_ascii_digit()).count()
        })
}

/// `(?:-|NGINX_QUOTED_VALUE)"` from `start`, just after the opening quote: the value (`None`
/// for a lone `-`, the first alternative) and the position after the closing quote. A lone
/// `-` also matches the second alternative, which ends at the same place, so the first one is
/// what the regex reports.
fn optional_quoted_value(line: &[u8], start: usize) -> Option<(Option<Span>, usize)> {
    let end = quoted_value_end(line, start);
    let after_quote = expect(line, end, b"\"")?;
    let value = (line.get(start..end) != Some(b"-")).then_some((start, end));
    Some((value, after_quote))
}

/// Where `NGINX_QUOTED_VALUE`, `(?:[^"\\]++|\\.)*+`, starting at `start` ends: at the first
/// `"` that no backslash escapes. It is possessive: the regex never tries a shorter value.
/// (At a backslash that ends the line the regex stops before it, this returns the line's
/// end: either way no closing quote follows.)
fn quoted_value_end(line: &[u8], start: usize) -> usize {
    let mut at = start;
    while let Some(offset) = line.get(at..).and_then(|rest| memchr2(b'"', b'\\', rest)) {
        let found = at + offset;
        if line.get(found) == Some(&b'"') {
            return found;
        }
        // Skip the backslash and the first byte of the character it escapes (the bytes
        // after that are neither `"` nor `\`).
        at = found + 2;
    }
    line.len()
}

/// The position after `expected` when the line holds it at `at`.
fn expect(line: &[u8], at: usize, expected: &[u8]) -> Option<usize> {
    line.get(at..)?
        .starts_with(expected)
        .then_some(at + expected.len())
}

/// Checks the parser against the regexes it stands in for, on any line: the fuzz target
/// `grok_nginx` runs it on arbitrary text (the tests below do the same on chosen lines).
#[doc(hidden)]
pub struct ParserCheck {
    /// `%{NGINX_COMBINED}` and `%{NGINX_MAIN}`, compiled as the filter compiles them.
    patterns: Vec<super::CompiledPattern>,
}

/// What one way of matching makes of a line: the verdict and where each group matched.
type Groups = (super::Attempt, Vec<Option<Span>>);

impl ParserCheck {
    /// Compiles the bundled patterns.
    pub fn new() -> Result<ParserCheck, super::GrokError> {
        let library = super::PatternLibrary::bundled()?;
        let patterns = ["%{NGINX_COMBINED}", "%{NGINX_MAIN}"]
            .into_iter()
            .map(|pattern| library.compile(pattern, "the parser check", &[]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ParserCheck { patterns })
    }

    /// Matches `line` with the parser and with the regex (in UTF mode, and in byte mode too
    /// when the line is ASCII). `Ok(n)`: they agree, and the parser answered for `n` of the
    /// two formats (it leaves the others to the regex); `Err` says how they differ.
    pub fn check(&self, line: &str) -> Result<usize, String> {
        use super::Matcher;
        let mut answered = 0;
        for pattern in &self.patterns {
            let Some(format) = pattern.nginx else {
                return Err(format!(
                    "`{}` does not take the parser's path",
                    pattern.source
                ));
            };
            let regex = Self::groups(pattern, line, Matcher::Utf);
            if line.is_ascii() {
                let byte_mode = Self::groups(pattern, line, Matcher::Ascii);
                if byte_mode != regex {
                    return Err(format!(
                        "{format:?}: byte mode gives {byte_mode:?}, UTF mode {regex:?} on {line:?}"
                    ));
                }
            }
            let Some(parsed) = Self::groups(pattern, line, Matcher::Nginx) else {
                continue;
            };
            if regex.as_ref() != Some(&parsed) {
                return Err(format!(
                    "{format:?}: the parser gives {parsed:?}, the regex {regex:?} on {line:?}"
                ));
            }
            answered += 1;
        }
        Ok(answered)
    }

    /// The verdict of `matcher` alone on `line`, its captures in `slots`; `None` when the
    /// parser is not sure (or `pattern` does not take its path).
    fn attempt(
        pattern: &super::CompiledPattern,
        line: &str,
        matcher: super::Matcher,
        slots: &mut super::MatchSlots,
    ) -> Option<super::Attempt> {
        use super::{Attempt, Matcher};
        Some(match (matcher, pattern.nginx) {
            (Matcher::Nginx, Some(format)) => {
                match format.parse(line, line.is_ascii(), &mut slots.nginx) {
                    Answer::Matched => {
                        slots.last_matcher = Matcher::Nginx;
                        Attempt::Matched
                    }
                    Answer::NoMatch => Attempt::NoMatch,
                    Answer::NotSure => return None,
                }
            }
            (Matcher::Nginx, None) => return None,
            (Matcher::Ascii, _) => pattern.attempt_regex(line, true, slots),
            (Matcher::Utf, _) => pattern.attempt_regex(line, false, slots),
        })
    }

    /// The verdict and groups of `matcher` on `line`; `None` when the parser is not sure.
    fn groups(
        pattern: &super::CompiledPattern,
        line: &str,
        matcher: super::Matcher,
    ) -> Option<Groups> {
        use super::{Attempt, MatchSlots};
        let mut slots = MatchSlots::new(pattern);
        let attempt = Self::attempt(pattern, line, matcher, &mut slots)?;
        let groups = match attempt {
            Attempt::Matched => (0..pattern.regex.captures_len())
                .map(|group| slots.get(group))
                .collect(),
            Attempt::NoMatch | Attempt::Abandoned => Vec::new(),
        };
        Some((attempt, groups))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        Attempt, CompiledPattern, GrokConfig, GrokFilter, MATCH_LIMIT, MatchSlots, Matcher,
        PatternLibrary,
    };
    use super::*;
    use crate::event::{Event, PlaceMemo};
    use crate::filters::{BuildContext, Filter, FilterOutcome};
    use pcre2::bytes::RegexBuilder;
    use std::path::{Path, PathBuf};

    const COMBINED_LINE: &str = r#"203.0.113.7 - alice [05/Mar/2024:10:20:30 +0100] "GET /search?q=caf%C3%A9 HTTP/1.1" 200 5120 "https://example.test/" "Mozilla/5.0 (X11) Firefox/120.0""#;

    fn repository() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn compile(pattern: &str) -> CompiledPattern {
        PatternLibrary::bundled()
            .unwrap()
            .compile(pattern, "test", &[])
            .unwrap()
    }

    /// `%{NGINX_COMBINED}` and `%{NGINX_MAIN}`, compiled as the filter compiles them.
    fn bundled_patterns() -> [CompiledPattern; 2] {
        [compile("%{NGINX_COMBINED}"), compile("%{NGINX_MAIN}")]
    }

    /// What one way of matching makes of a line: the verdict, the span of every group and
    /// the event the captures give (with empty captures kept, so that they show too).
    #[derive(Debug, PartialEq)]
    struct Outcome {
        attempt: Attempt,
        groups: Vec<Option<Span>>,
        event: String,
    }

    /// Matches `line` with `matcher` only; `None` when the parser is not sure.
    fn outcome(pattern: &CompiledPattern, line: &str, matcher: Matcher) -> Option<Outcome> {
        assert!(
            matcher != Matcher::Nginx || pattern.nginx.is_some(),
            "the bundled pattern takes the fast path"
        );
        let mut slots = MatchSlots::new(pattern);
        let attempt = ParserCheck::attempt(pattern, line, matcher, &mut slots)?;
        let mut event = String::new();
        let mut groups = Vec::new();
        if attempt == Attempt::Matched {
            groups = (0..pattern.regex.captures_len())
                .map(|group| slots.get(group))
                .collect();
            let mut captured = Event::from_line(line.to_string(), "2000-01-01T00:00:00.000Z");
            pattern.store_captures(line, &slots, &mut PlaceMemo::default(), true, &mut captured);
            let mut json = Vec::new();
            captured.write_json(&mut json);
            event = String::from_utf8(json).unwrap();
        }
        Some(Outcome {
            attempt,
            groups,
            event,
        })
    }

    /// Asserts that the parser, when it answers, answers as the regexes do (UTF mode, and
    /// byte mode for ASCII lines); returns whether it answered.
    fn parser_agrees_with_regex(pattern: &CompiledPattern, line: &str) -> bool {
        let regex = outcome(pattern, line, Matcher::Utf).unwrap();
        if line.is_ascii() {
            let byte_mode = outcome(pattern, line, Matcher::Ascii).unwrap();
            assert_eq!(byte_mode, regex, "byte and UTF mode differ on {line:?}");
        }
        let Some(parsed) = outcome(pattern, line, Matcher::Nginx) else {
            return false;
        };
        assert_eq!(
            parsed, regex,
            "{:?}: the parser and the regex differ on {line:?}",
            pattern.nginx
        );
        true
    }

    /// examples/access.log, read as ISO-8859-1 as its README says (so it has non-ASCII text).
    fn sample_lines() -> Vec<String> {
        let bytes = std::fs::read(repository().join("examples/access.log")).unwrap();
        bytes
            .split(|byte| *byte == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| line.iter().map(|byte| char::from(*byte)).collect())
            .collect()
    }

    /// `scripts/nginx_log_gen.py --seed 7 --lines 20000`: deterministic combined lines.
    fn generated_lines() -> Vec<String> {
        let script = repository().join("scripts/nginx_log_gen.py");
        let output = std::process::Command::new("python3")
            .arg(&script)
            .args(["--seed", "7", "--lines", "20000"])
            .output()
            .expect("python3 runs scripts/nginx_log_gen.py");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn the_bundled_nginx_patterns_expand_to_the_regexes_the_parser_implements() {
        // When this fails, patterns/nginx (or the grok crate's patterns) changed: check the
        // parser against the new regex, then update ACCESS_COMMON_REGEX and the suffixes.
        let [combined, main] = bundled_patterns();
        assert_eq!(combined.nginx, Some(NginxFormat::Combined));
        assert_eq!(main.nginx, Some(NginxFormat::Main));
        // Group `_grok<n>` is group n + 1, in the order of `Group`.
        let names = main.regex.capture_names();
        assert_eq!(names.len(), GROUP_COUNT);
        for (group, name) in names.iter().enumerate().skip(1) {
            assert_eq!(
                name.as_deref(),
                Some(format!("_grok{}", group - 1).as_str())
            );
        }
        assert_eq!(combined.regex.captures_len(), GROUP_COUNT - 1);
        assert_eq!(Group::XForwardedFor as usize, GROUP_COUNT - 1);
        // The captures are kept in field order; listed here by group.
        let mut by_group: Vec<_> = main.captures.iter().collect();
        by_group.sort_by_key(|capture| capture.group);
        let fields: Vec<String> = by_group
            .iter()
            .map(|capture| format!("{}={}", capture.group, capture.field))
            .collect();
        assert_eq!(
            fields,
            [
                "1=source.address",
                "2=user.name",
                "3=nginx.access.time",
                "4=http.request.method",
                "5=url.original",
                "6=http.version",
                "7=nginx.access.info",
                "8=http.response.status_code",
                "9=http.response.body.bytes",
                "10=http.request.referrer",
                "11=user_agent.original",
                "12=nginx.access.x_forwarded_for",
            ]
        );
    }

    #[test]
    fn every_line_of_the_sample_log_parses_as_with_the_regex() {
        let lines = sample_lines();
        assert_eq!(lines.len(), 400);
        for pattern in bundled_patterns() {
            let answered = lines
                .iter()
                .filter(|line| parser_agrees_with_regex(&pattern, line))
                .count();
            // Left to the regex: a line with a raw windows-1252 byte (U+0092 as Latin-1).
            assert!(answered >= 395, "{:?} answered {answered}", pattern.nginx);
        }
    }

    #[test]
    fn every_generated_line_parses_as_with_the_regex_and_the_parser_answers_them_all() {
        let lines = generated_lines();
        assert_eq!(lines.len(), 20_000);
        let [combined, main] = bundled_patterns();
        for (index, line) in lines.iter().enumerate() {
            assert!(parser_agrees_with_regex(&combined, line), "{line:?}");
            assert!(parser_agrees_with_regex(&main, line), "{line:?}");
            // The same line in the `main` format.
            let forwarded = ["-", "198.51.100.1", "198.51.100.1, 10.0.0.2"][index % 3];
            let main_line = format!("{line} \"{forwarded}\"");
            assert!(
                parser_agrees_with_regex(&combined, &main_line),
                "{main_line:?}"
            );
            assert!(parser_agrees_with_regex(&main, &main_line), "{main_line:?}");
        }
    }

    #[test]
    fn tricky_lines_parse_as_with_the_regex() {
        let date = "[05/Mar/2024:10:20:30 +0000]";
        let tail = r#"200 12 "-" "curl/8""#;
        let answered = [
            // The user name holds ` [`: the lazy user group stops at the first ` [` after
            // which the line matches.
            format!(r#"1.2.3.4 - a [b] c {date} "GET / HTTP/1.1" {tail}"#),
            format!(r#"1.2.3.4 - a {date} "GET / HTTP/1.1" {tail} {date} "GET / HTTP/1.1" {tail}"#),
            format!(r#"1.2.3.4 -  {date} "GET / HTTP/1.1" {tail}"#),
            format!(r#"1.2.3.4 - -- {date} "GET / HTTP/1.1" {tail}"#),
            // Requests that are not `METHOD URL HTTP/x`.
            format!(r#"1.2.3.4 - - {date} "GET /a b HTTP/1.1" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /a HTTP/1.1 x" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /a HTTP/x" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /a HTTP/.5" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /a HTTP/-1.1" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /a HTTP/1." {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /a" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET " {tail}"#),
            format!(r#"1.2.3.4 - - {date} "-" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "-x" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "G-T /" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GÉT /" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "\x16\x03" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "a\"b" {tail}"#),
            format!(r#"1.2.3.4 - - {date} "GET /\" HTTP/1.1" {tail}"#),
            // Quoted values with escapes, dashes and a backslash before the closing quote.
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 - "a\\" "\"-\"""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 - "--" "" "#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 - "-" "\"#),
            // Numbers with signs, dashes where numbers go.
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" -200 +5 "-" "-""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 -5 "-" "-""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" - 5 "-" "-""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 99999999999999999999 "-" "-""#),
            // Unicode around the fields.
            format!(r#"café - josé {date} "GET /é HTTP/1.1" 200 1 "é" "Téléphone""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 1 "-" "-" "x\"y""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 1 "-" "-" "-""#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 1 "-" "-" """#),
            format!(r#"1.2.3.4 - - {date} "GET / HTTP/1.1" 200 1 "-" "-" "#),
            "1.2.3.4 - - [05/Mar/2024:10:20:30 +0000] \"GET / HTTP/1.1\"".to_string(),
            " 1.2.3.4 - - [05/Mar/2024:10:20:30 +0000]".to_string(),
            String::new(),
        ];
        let [combined, main] = bundled_patterns();
        for line in &answered {
            assert!(parser_agrees_with_regex(&combined, line), "{line:?}");
            assert!(parser_agrees_with_regex(&main, line), "{line:?}");
        }
        // Left to the regex: unusual dates, control characters, line breaks.
        let left_to_the_regex = [
            format!(r#"1.2.3.4 - - [5/Mar/2024:10:20:30 +0000] "GET /" {tail}"#),
            format!(r#"1.2.3.4 - - [05/März/24:1:20:30.5 -1] "GET /" {tail}"#),
            format!(r#"1.2.3.4 - - [05/mar/2024:10:20:30 +0000] "GET /" {tail}"#),
            format!(r#"1.2.3.4 - - [32/Mar/2024:10:20:30 +0000] "GET /" {tail}"#),
            format!("1.2.3.4 - - {date} \"GET\t/\" {tail}"),
            format!("1.2.3.4 - - {date} \"GET /\" {tail}\n"),
            format!("1.2.3.4 - - {date} \"GET /\u{85}\" {tail}"),
        ];
        for line in &left_to_the_regex {
            assert!(!parser_agrees_with_regex(&combined, line), "{line:?}");
        }
    }

    /// A small xorshift generator: the same seed, the same cases.
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % bound as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }

        /// A random character boundary of `text`.
        fn boundary(&mut self, text: &str) -> usize {
            let count = text.chars().count();
            let nth = self.below(count + 1);
            text.char_indices()
                .nth(nth)
                .map_or(text.len(), |(index, _)| index)
        }
    }

    /// Short texts the mutations insert: the line's delimiters, digits, letters, non-ASCII
    /// and control characters, and pieces of fields.
    const PIECES: &[&str] = &[
        "\"",
        "\\",
        " ",
        "-",
        "[",
        "]",
        "/",
        ":",
        "+",
        ".",
        ",",
        "0",
        "7",
        "9",
        "a",
        "Z",
        "_",
        "é",
        "ä",
        "\u{a0}",
        "\u{85}",
        "\u{2028}",
        "\t",
        "\n",
        "\r",
        "\u{0}",
        "\u{16}",
        "\\\"",
        "\\\\",
        "\\x22",
        " [",
        "] \"",
        "\" \"",
        " - ",
        "--",
        " HTTP/",
        "HTTP/1.1",
        "GET ",
        "[05/Mar/2024:10:20:30 +0000]",
        "\" 200 1 \"-\" \"-\"",
        " \"-\"",
        "\"\"",
    ];
    const ODD_METHODS: &[&str] = &[
        "", "-", "G_T", "get", "GET\"", "GÉT", "1", "_", "GET/1", "\\x16", "G T", "M-SEARCH",
    ];
    const ODD_VERSIONS: &[&str] = &[
        "",
        " HTTP/1",
        " HTTP/",
        " HTTP/1.",
        " HTTP/.9",
        " HTTP/-1.1",
        " HTTP/+2",
        " HTTP/1.1.1",
        " HTTP/x",
        " HTTP/1.1 ",
        " HTTP/2.0 extra",
        " HTTP/1.1\\",
        " http/1.1",
        "HTTP/1.1",
    ];
    const ODD_DATES: &[&str] = &[
        "",
        "5/Mar/2024:10:20:30 +0000",
        "05/März/2024:10:20:30 +0000",
        "05/March/2024:10:20:30 +0000",
        "05/mar/2024:10:20:30 +0000",
        "00/Mar/2024:10:20:30 +0000",
        "32/Mar/2024:10:20:30 +0000",
        "05/Mar/24:10:20:30 +0000",
        "05/Mar/202:10:20:30 +0000",
        "05/Mar/2024:24:00:00 +0000",
        "05/Mar/2024:1:2:3 +0000",
        "05/Mar/2024:10:20:30.123 +0000",
        "05/Mar/2024:10:20:60 +0000",
        "05/Mar/2024:10:20:61 +0000",
        "05/Mar/2024:10:20:30 0000",
        "05/Mar/2024:10:20:30 +00:00",
        "05/Mar/2024:10:20 +0000",
        "05/Mar/2024:10:20:30:45 +0000",
        "05/Mar/2024:10:20:30  +0000",
        "05/Mar/2024:10:20:30 +",
        "05/Okt/2024:10:20:30 -0700",
        "05/Mar/2024:10:20:30 +0000] [x",
    ];
    const ODD_USERS: &[&str] = &[
        "",
        "alice",
        "a b",
        "a [b",
        "a [b]",
        "[",
        "]",
        "-x",
        "- -",
        "é",
        "\"",
        "-\"",
        "x [05/Mar/2024:10:20:30 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\" y",
    ];
    const ODD_NUMBERS: &[&str] = &[
        "-",
        "+200",
        "-200",
        "2 00",
        "",
        "2x",
        "99999999999999999999",
        "0",
    ];
    const ODD_QUOTED: &[&str] = &[
        "\"-\"",
        "\"\"",
        "\"--\"",
        "\"\\\"\"",
        "\"a\\\\\"",
        "\"a\\\"",
        "\"\\x22\"",
        "\"a\"b\"",
        "-",
        "\"é\"",
        "\"-\" \"-\"",
    ];
    const FORWARDED: &[&str] = &[
        " \"-\"",
        " \"1.2.3.4, 5.6.7.8\"",
        " \"a\\\"b\"",
        " \"\"",
        " \"x",
        " \"x\" \"y\"",
    ];

    /// `line` with `[start, end)` replaced by `piece`.
    fn replaced(line: &str, start: usize, end: usize, piece: &str) -> String {
        format!("{}{piece}{}", &line[..start], &line[end..])
    }

    /// The span of the `field`-th space-separated field of `line` (clamped to the line).
    fn nth_field(line: &str, field: usize) -> (usize, usize) {
        let mut start = 0;
        for (index, part) in line.split(' ').enumerate() {
            if index == field {
                return (start, start + part.len());
            }
            start += part.len() + 1;
        }
        (line.len(), line.len())
    }

    /// One random change of `line`.
    fn mutate(random: &mut Random, line: &str) -> String {
        match random.below(13) {
            0 => {
                let start = random.boundary(line);
                let end = (start..=line.len())
                    .filter(|&end| line.is_char_boundary(end))
                    .nth(1 + random.below(4))
                    .unwrap_or(line.len());
                replaced(line, start, end, "")
            }
            1 | 2 => {
                let at = random.boundary(line);
                replaced(line, at, at, random.pick(PIECES))
            }
            3 => {
                let start = random.boundary(line);
                let end = (start..=line.len())
                    .filter(|&end| line.is_char_boundary(end))
                    .nth(1)
                    .unwrap_or(line.len());
                replaced(line, start, end, random.pick(PIECES))
            }
            4 => line[..random.boundary(line)].to_string(),
            5 => {
                // Duplicate a field.
                let (start, end) = nth_field(line, random.below(12));
                let field = line[start..end].to_string();
                replaced(line, end, end, &format!(" {field}"))
            }
            6 => match line.find("] \"") {
                Some(at) => {
                    let start = at + 3;
                    let end = line[start..]
                        .find([' ', '"'])
                        .map_or(line.len(), |o| start + o);
                    replaced(line, start, end, random.pick(ODD_METHODS))
                }
                None => line.to_string(),
            },
            7 => match line.find(" HTTP/") {
                Some(start) => {
                    let end = line[start..].find('"').map_or(line.len(), |o| start + o);
                    replaced(line, start, end, random.pick(ODD_VERSIONS))
                }
                None => line.to_string(),
            },
            8 => match (line.find('['), line.find(']')) {
                (Some(start), Some(end)) if start < end => {
                    replaced(line, start + 1, end, random.pick(ODD_DATES))
                }
                _ => line.to_string(),
            },
            9 => {
                let (start, end) = nth_field(line, 2);
                replaced(line, start, end, random.pick(ODD_USERS))
            }
            10 => {
                let quotes: Vec<usize> = line.match_indices("\" ").map(|(at, _)| at).collect();
                match quotes.get(random.below(quotes.len() + 1)) {
                    Some(&quote) => {
                        let (start, end) = nth_field(&line[quote + 2..], 0);
                        let at = quote + 2;
                        replaced(line, at + start, at + end, random.pick(ODD_NUMBERS))
                    }
                    None => line.to_string(),
                }
            }
            11 => {
                // Replace one of the quoted values at the end.
                let quoted_start = line.rfind(" \"").map_or(line.len(), |at| at + 1);
                replaced(line, quoted_start, line.len(), random.pick(ODD_QUOTED))
            }
            _ => format!("{line}{}", random.pick(FORWARDED)),
        }
    }

    #[test]
    fn mutated_lines_parse_as_with_the_regex() {
        let mut base = sample_lines();
        base.push(format!("{COMBINED_LINE} \"198.51.100.1, 10.0.0.2\""));
        let [combined, main] = bundled_patterns();
        let mut random = Random(0x9E37_79B9_7F4A_7C15);
        let cases = 40_000;
        let mut answered = [0usize; 2];
        let mut matched = 0usize;
        for _ in 0..cases {
            let mut line = base[random.below(base.len())].clone();
            if random.below(3) == 0 {
                line.push_str(random.pick(FORWARDED));
            }
            for _ in 0..=random.below(3) {
                line = mutate(&mut random, &line);
            }
            for (count, pattern) in answered.iter_mut().zip([&combined, &main]) {
                if parser_agrees_with_regex(pattern, &line) {
                    *count += 1;
                }
            }
            if outcome(&combined, &line, Matcher::Utf).unwrap().attempt == Attempt::Matched {
                matched += 1;
            }
        }
        println!(
            "{cases} mutated lines: the parser answered {answered:?} (combined, main), the combined regex matched {matched}"
        );
        // The cases are not all left to the regex, nor all lines that match.
        assert!(
            answered.iter().all(|&count| count > cases / 2),
            "{answered:?}"
        );
        assert!(matched > cases / 10 && matched < cases * 3 / 4, "{matched}");
    }

    #[test]
    fn long_lines_stay_far_below_the_match_limit() {
        // Lines up to MAX_LINE_BYTES built to make the regex work hard: many ` [` in the user
        // name with dates after them, long runs of escapes after fields that both
        // alternatives of `(?:-|…)` match (so a failing line scans them up to 16 times).
        // The worst needs some 17 steps per byte (PCRE2's interpreter; 7 under the JIT):
        // each must match or fail under a tenth of the match limit, so PCRE2 never abandons
        // a line the parser answers.
        let date = "[05/Mar/2024:10:20:30 +0000]";
        let fill = |unit: &str| unit.repeat((MAX_LINE_BYTES - 120) / unit.len());
        let request = "\"GET / HTTP/1.1\"";
        let user_names = fill(&format!("u {date} {request} 200 1 \"\\\\\" \"-\" "));
        let lines = [
            format!("1.2.3.4 - {user_names}{date} {request} 200 1 \"-\" \"-\""),
            format!("1.2.3.4 - {user_names}"),
            format!(
                "1.2.3.4 - {}",
                fill(&format!("- {date} {request} 200 1 \"-\" \"-\" \"-\" "))
            ),
            format!("1.2.3.4 - {} \"", fill(&format!(" {date} \"GET"))),
            format!(
                "1.2.3.4 - {} {date} {request} 200 1 \"-\" \"-\"",
                fill(" [x]")
            ),
            format!("1.2.3.4 - - {date} \"{}\" 200 1 \"-\" \"-\"", fill("\\\"")),
            format!(
                "1.2.3.4 - - {date} {request} 200 1 \"-\" \"{}\"",
                fill("\\\\")
            ),
            format!(
                "- - - {date} {request} 200 - \"-\" \"-\" \"{}\" x",
                fill("\\\\")
            ),
            format!(
                "- - - {date} {request} 200 - \"-\" \"-\" \"{}\" ",
                fill("a\\\\")
            ),
            format!("- - - {date} \"-\" 200 - \"-\" \"-\" \"{}", fill("\\\\")),
            format!(
                "1.2.3.4 - - {date} \"GET /{} HTTP/1.1\" 200 1 \"-\" \"-\"",
                fill("a")
            ),
            format!("{} - - {date} {request} 200 1 \"-\" \"-\"", fill("1")),
            format!("1.2.3.4 - {}", fill("[")),
        ];
        let library = PatternLibrary::bundled().unwrap();
        for format in [NginxFormat::Combined, NginxFormat::Main] {
            let pattern = match format {
                NginxFormat::Combined => "%{NGINX_COMBINED}",
                NginxFormat::Main => "%{NGINX_MAIN}",
            };
            let regex = library.expand(pattern, "test").unwrap().regex;
            for jit in [true, false] {
                let limited = RegexBuilder::new()
                    .utf(true)
                    .jit_if_available(jit)
                    .build(&format!("(*LIMIT_MATCH={}){regex}", MATCH_LIMIT / 10))
                    .unwrap();
                for line in &lines {
                    let start = &line[..60];
                    assert!(
                        line.len() <= MAX_LINE_BYTES,
                        "{} bytes: {start:?}",
                        line.len()
                    );
                    assert!(
                        line.len() > MAX_LINE_BYTES - 200,
                        "{} bytes: {start:?}",
                        line.len()
                    );
                    let answer = format.parse(line, true, &mut GroupSpans::default());
                    assert_ne!(answer, Answer::NotSure, "{format:?} on {start:?}");
                    let found = limited.is_match(line.as_bytes());
                    assert!(
                        found.is_ok(),
                        "{format:?} (jit {jit}) on {start:?}: {found:?}"
                    );
                    assert_eq!(found.ok(), Some(answer == Answer::Matched));
                }
            }
        }
        let too_long = format!(
            "{} - - {date} {request} 200 1 \"-\" \"-\"",
            "1".repeat(MAX_LINE_BYTES)
        );
        let answer = NginxFormat::Combined.parse(&too_long, true, &mut GroupSpans::default());
        assert_eq!(answer, Answer::NotSure);
    }

    /// The nginx format each pattern of a grok filter built from `toml_text` takes, if any.
    fn formats(toml_text: &str, config_dir: &Path) -> Vec<Option<NginxFormat>> {
        let config: GrokConfig = toml::from_str(toml_text).unwrap();
        let context = BuildContext {
            config_dir: config_dir.to_path_buf(),
        };
        let filter = GrokFilter::new(&config, &context).unwrap();
        filter
            .matchers
            .iter()
            .flat_map(|matcher| matcher.patterns.iter().map(|(pattern, _, _)| pattern.nginx))
            .collect()
    }

    #[test]
    fn only_the_bundled_definitions_take_the_fast_path() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path();
        use NginxFormat::{Combined, Main};
        assert_eq!(
            formats(r#"match = { message = "%{NGINX_COMBINED}" }"#, at),
            [Some(Combined)]
        );
        assert_eq!(
            formats(
                r#"match = { message = ["%{NGINX_MAIN}", "%{NGINX_COMBINED}", "%{IP}"] }"#,
                at
            ),
            [Some(Main), Some(Combined), None]
        );
        // The same names redefined, inline or in a patterns_dir, or used another way.
        for toml_text in [
            r#"match = { message = "%{NGINX_COMBINED}" }
               pattern_definitions = { NGINX_URL = '\S+' }"#,
            r#"match = { message = "%{NGINX_COMBINED}" }
               pattern_definitions = { HTTPDATE = '[^\]]+' }"#,
            r#"match = { message = "^%{NGINX_ACCESS_COMMON}$" }"#,
            r#"match = { message = "%{NGINX_COMBINED:line}" }"#,
        ] {
            assert_eq!(formats(toml_text, at), [None], "{toml_text}");
        }
        // Formats are recognized by the regex, not by the names: a redefinition that expands
        // to a bundled format's regex is that format.
        let renamed = r#"match = { message = "%{NGINX_MAIN}" }
                         pattern_definitions = { NGINX_MAIN = '^%{NGINX_ACCESS_COMMON}$' }"#;
        assert_eq!(formats(renamed, at), [Some(Combined)]);
        std::fs::write(
            at.join("nginx"),
            "NGINX_COMBINED ^%{NGINX_ACCESS_COMMON} %{WORD:upstream}$\n",
        )
        .unwrap();
        let redefined = r#"match = { message = "%{NGINX_COMBINED}" }
                           patterns_dir = ".""#;
        assert_eq!(formats(redefined, at), [None]);
        // And the redefinition is what the filter matches with.
        let config: GrokConfig = toml::from_str(redefined).unwrap();
        let context = BuildContext {
            config_dir: at.to_path_buf(),
        };
        let mut filter = GrokFilter::new(&config, &context).unwrap();
        let mut event = Event::from_line(
            format!("{COMBINED_LINE} backend"),
            "2000-01-01T00:00:00.000Z",
        );
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        let mut json = Vec::new();
        event.write_json(&mut json);
        assert!(
            String::from_utf8(json)
                .unwrap()
                .contains(r#""upstream":"backend""#)
        );
    }

    #[test]
    fn the_filter_answers_with_the_parser_and_falls_back_to_the_regex() {
        let config: GrokConfig =
            toml::from_str(r#"match = { message = ["%{NGINX_COMBINED}", "%{NGINX_MAIN}"] }"#)
                .unwrap();
        let context = BuildContext {
            config_dir: repository(),
        };
        let mut filter = GrokFilter::new(&config, &context).unwrap();
        let event_json = |filter: &mut GrokFilter, line: &str| {
            let mut event = Event::from_line(line.to_string(), "2000-01-01T00:00:00.000Z");
            let outcome = filter.process(&mut event);
            let mut json = Vec::new();
            event.write_json(&mut json);
            (outcome, String::from_utf8(json).unwrap())
        };
        // Parsed by the parser (main line), and by the regex (a one-digit day).
        let main_line = format!("{COMBINED_LINE} \"198.51.100.1\"");
        let (outcome, json) = event_json(&mut filter, &main_line);
        assert_eq!(outcome, FilterOutcome::Success);
        assert!(
            json.contains(r#""x_forwarded_for":"198.51.100.1""#),
            "{json}"
        );
        assert!(json.contains(r#""method":"GET""#), "{json}");
        let short_day = COMBINED_LINE.replace("[05/", "[5/");
        let (outcome, json) = event_json(&mut filter, &short_day);
        assert_eq!(outcome, FilterOutcome::Success);
        assert!(
            json.contains(r#""time":"5/Mar/2024:10:20:30 +0100""#),
            "{json}"
        );
        let (outcome, json) = event_json(&mut filter, "junk");
        assert_eq!(outcome, FilterOutcome::Failure);
        assert!(json.contains("_grokparsefailure"), "{json}");
    }
}
