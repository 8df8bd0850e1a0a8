//! The `useragent` filter: parses a user-agent string into the ECS fields `user_agent.name`,
//! `.version`, `.os.name`, `.os.version`, `.os.full` and `.device.name`, with the uap-core regexes
//! that Elasticsearch's `user_agent` processor and Logstash's `useragent` filter use.
//! The regexes ship inside the binary (`useragent/regexes.json`); recent results are cached.

use super::{BuildContext, BuildError, Filter, FilterOutcome};
use crate::event::{Event, FieldPath, PlaceMemo};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// uap-core 0.18.0 `regexes.yaml` (Apache-2.0, see `useragent/LICENSE`), converted to JSON
/// unchanged so that it loads with serde_json; see `useragent/README.md` to update it.
const UAP_CORE_REGEXES: &str = include_str!("useragent/regexes.json");

/// The name `user_agent.name` and `user_agent.device.name` get when nothing matches, as in Elasticsearch.
const UNKNOWN: &str = "Other";

/// Options of the `useragent` filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UseragentConfig {
    /// Field holding the user-agent string (a string, or an array whose first element is used).
    /// Default `user_agent.original`.
    pub source: FieldPath,
    /// Object the parsed fields are written into: `<target>.name`, `<target>.version`,
    /// `<target>.os.name`, `<target>.os.version`, `<target>.os.full`, `<target>.device.name`.
    /// Other fields of the object (such as `original`) are kept. Default `user_agent`.
    pub target: FieldPath,
    /// How many distinct user-agent strings each worker remembers the parsed result of; `0`
    /// disables the cache. Default 1000 (as Logstash).
    pub cache_size: usize,
}

impl Default for UseragentConfig {
    fn default() -> Self {
        UseragentConfig {
            source: FieldPath::from_keys(&["user_agent", "original"]),
            target: FieldPath::from_keys(&["user_agent"]),
            cache_size: 1000,
        }
    }
}

/// Why the user-agent parser could not be built.
#[derive(Debug, thiserror::Error)]
#[error(
    "the bundled user-agent regexes cannot be loaded: {reason}; this is a bug in logpipe, please report it"
)]
pub struct UseragentError {
    /// What went wrong reading or compiling the regexes.
    pub reason: String,
}

/// The parser compiled from the bundled regexes, shared by every `useragent` filter of the
/// process: it is immutable once built, and compiling its ~1200 regexes takes about 150 ms
/// (release build) and a few MB, which is paid once instead of once per worker.
fn shared_extractor() -> Result<Arc<ua_parser::Extractor<'static>>, UseragentError> {
    static EXTRACTOR: OnceLock<Result<Arc<ua_parser::Extractor<'static>>, String>> =
        OnceLock::new();
    EXTRACTOR
        .get_or_init(|| {
            let regexes: ua_parser::Regexes<'static> =
                serde_json::from_str(UAP_CORE_REGEXES).map_err(|error| error.to_string())?;
            let extractor = build_extractor(regexes).map_err(|error| error.to_string())?;
            Ok(Arc::new(extractor))
        })
        .clone()
        .map_err(|reason| UseragentError { reason })
}

/// Why the bundled regexes did not compile (they are tested to compile).
type ExtractorError = Box<dyn std::error::Error + Send + Sync>;

/// Compiles the three parsers (as `Extractor::try_from` does), the device one, which takes
/// over half the time, on a thread of its own: startup waits for the slowest of them.
fn build_extractor(
    regexes: ua_parser::Regexes<'static>,
) -> Result<ua_parser::Extractor<'static>, ExtractorError> {
    let ua_parser::Regexes {
        user_agent_parsers,
        os_parsers,
        device_parsers,
    } = regexes;
    std::thread::scope(|scope| {
        let devices = scope.spawn(move || -> Result<_, ExtractorError> {
            Ok(ua_parser::device::Builder::new()
                .push_all(device_parsers)?
                .build()?)
        });
        let ua = ua_parser::user_agent::Builder::new()
            .push_all(user_agent_parsers)?
            .build()?;
        let os = ua_parser::os::Builder::new()
            .push_all(os_parsers)?
            .build()?;
        let dev = devices
            .join()
            .map_err(|_| "building the device parser panicked")??;
        Ok(ua_parser::Extractor { ua, os, dev })
    })
}

/// The `useragent` filter.
pub struct UseragentFilter {
    source: FieldPath,
    target: TargetPaths,
    extractor: Arc<ua_parser::Extractor<'static>>,
    recent: Option<RecentResults>,
    /// Where the fields went in the last event.
    places: PlaceMemo,
}

impl UseragentFilter {
    /// Builds the filter; the first one built in the process compiles the bundled regexes.
    pub fn build(
        config: &UseragentConfig,
        _context: &BuildContext,
    ) -> Result<UseragentFilter, BuildError> {
        Ok(UseragentFilter {
            source: config.source.clone(),
            target: TargetPaths::below(&config.target),
            extractor: shared_extractor()?,
            recent: (config.cache_size > 0).then(|| RecentResults::new(config.cache_size)),
            places: PlaceMemo::default(),
        })
    }

    /// The fields for one user-agent string, from the cache when it is there.
    fn details(&mut self, user_agent: &str) -> Arc<UserAgentDetails> {
        let extractor = &*self.extractor;
        let parse = |user_agent: &str| UserAgentDetails::parse(extractor, user_agent);
        match &mut self.recent {
            Some(recent) => recent.get_or_parse(user_agent, parse),
            None => Arc::new(parse(user_agent)),
        }
    }
}

impl Filter for UseragentFilter {
    fn process(&mut self, event: &mut Event) -> FilterOutcome {
        let user_agent = match event.get_stored(&self.source) {
            Some(Value::String(text)) => text.as_str(),
            Some(Value::Array(values)) => match values.first() {
                Some(Value::String(text)) => text.as_str(),
                _ => return FilterOutcome::Failure,
            },
            _ => return FilterOutcome::Failure,
        };
        let details = self.details(user_agent);
        details.write_into(&self.target, &mut self.places, event);
        FilterOutcome::Success
    }
}

/// The fields the filter writes, below its target.
struct TargetPaths {
    name: FieldPath,
    version: FieldPath,
    os: FieldPath,
    os_name: FieldPath,
    os_full: FieldPath,
    os_version: FieldPath,
    device: FieldPath,
    device_name: FieldPath,
}

impl TargetPaths {
    fn below(target: &FieldPath) -> TargetPaths {
        let os = target.child("os");
        let device = target.child("device");
        TargetPaths {
            name: target.child("name"),
            version: target.child("version"),
            os_name: os.child("name"),
            os_full: os.child("full"),
            os_version: os.child("version"),
            os,
            device_name: device.child("name"),
            device,
        }
    }
}

/// What one user-agent string parses to, ready to be written into an event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UserAgentDetails {
    /// Browser or client name; `Other` when unknown.
    name: String,
    /// `major[.minor[.patch[.build]]]`, when known.
    version: Option<String>,
    /// Operating system, when known.
    os: Option<OsDetails>,
    /// Device family; `Other` when unknown.
    device_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct OsDetails {
    name: String,
    /// `major[.minor[.patch[.build]]]`, and with it `full`: `name version`.
    version: Option<(String, String)>,
}

impl UserAgentDetails {
    /// Parses with uap-core semantics and Elasticsearch's field rules.
    fn parse(extractor: &ua_parser::Extractor<'_>, user_agent: &str) -> UserAgentDetails {
        let (client, os, device) = extractor.extract(user_agent);
        let (name, version) = match client {
            Some(client) => (
                client.family.into_owned(),
                dotted_version([client.major, client.minor, client.patch, client.patch_minor]),
            ),
            None => (UNKNOWN.to_string(), None),
        };
        UserAgentDetails {
            name,
            version,
            os: os.map(|os| {
                let name = os.os.into_owned();
                let version = dotted_version([os.major, os.minor, os.patch, os.patch_minor])
                    .map(|version| (format!("{name} {version}"), version));
                OsDetails { name, version }
            }),
            device_name: device.map_or_else(|| UNKNOWN.to_string(), |d| d.device.into_owned()),
        }
    }

    /// Sets the fields below the target (a non-object target is replaced by an object);
    /// fields this parse has no value for are removed, and `os` and `device` are replaced
    /// whole. In path order, with one walk through the event.
    fn write_into(&self, target: &TargetPaths, places: &mut PlaceMemo, event: &mut Event) {
        let text = |text: &String| Value::String(text.clone());
        let mut fields = event.sorted_writer_with(places);
        fields.remove(&target.device);
        fields.insert(&target.device_name, text(&self.device_name));
        fields.insert(&target.name, text(&self.name));
        fields.remove(&target.os);
        if let Some(os) = &self.os {
            if let Some((full, _)) = &os.version {
                fields.insert(&target.os_full, text(full));
            }
            fields.insert(&target.os_name, text(&os.name));
            if let Some((_, version)) = &os.version {
                fields.insert(&target.os_version, text(version));
            }
        }
        match &self.version {
            Some(version) => fields.insert(&target.version, text(version)),
            None => fields.remove(&target.version),
        }
    }
}

/// `major.minor.patch.build`, stopping at the first part that is missing or empty;
/// `None` without a major version.
fn dotted_version<S: AsRef<str>>(parts: [Option<S>; 4]) -> Option<String> {
    let mut version: Option<String> = None;
    for part in parts {
        let Some(part) = part.filter(|p| !p.as_ref().is_empty()) else {
            break;
        };
        match &mut version {
            Some(text) => {
                text.push('.');
                text.push_str(part.as_ref());
            }
            None => version = Some(part.as_ref().to_string()),
        }
    }
    version
}

/// Parses by user-agent string. foldhash instead of SipHash: the strings are 50 to 200 bytes
/// and hashed on every event, and the table is bounded, so colliding strings cannot grow it.
type RecentTable = HashMap<Box<str>, Arc<UserAgentDetails>, foldhash::fast::RandomState>;

/// A bounded memo of recent parses: two generations of at most `capacity / 2` entries each.
/// Lookups try the current generation, then the previous one (moving a hit forward); when the
/// current one is full it becomes the previous one and the oldest is forgotten. This keeps the
/// user agents seen recently, like an LRU, with plain `HashMap`s and O(1) work per event.
struct RecentResults {
    current: RecentTable,
    previous: RecentTable,
    generation_capacity: usize,
}

impl RecentResults {
    fn new(capacity: usize) -> RecentResults {
        let generation_capacity = capacity.div_ceil(2);
        RecentResults {
            current: RecentTable::with_capacity_and_hasher(generation_capacity, Default::default()),
            previous: RecentTable::default(),
            generation_capacity,
        }
    }

    fn get_or_parse(
        &mut self,
        user_agent: &str,
        parse: impl FnOnce(&str) -> UserAgentDetails,
    ) -> Arc<UserAgentDetails> {
        if let Some(details) = self.current.get(user_agent) {
            return Arc::clone(details);
        }
        let details = match self.previous.remove(user_agent) {
            Some(details) => details,
            None => Arc::new(parse(user_agent)),
        };
        if self.current.len() >= self.generation_capacity {
            self.previous = std::mem::replace(
                &mut self.current,
                RecentTable::with_capacity_and_hasher(self.generation_capacity, Default::default()),
            );
        }
        self.current
            .insert(Box::from(user_agent), Arc::clone(&details));
        details
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    const CHROME_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.91 Safari/537.36";
    const CHROME_MAC: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const FIREFOX_UBUNTU: &str =
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1";
    const GOOGLEBOT: &str =
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    const CURL: &str = "curl/8.5.0";

    fn context() -> BuildContext {
        BuildContext {
            config_dir: ".".into(),
        }
    }

    fn filter(toml_text: &str) -> UseragentFilter {
        let config: UseragentConfig = toml::from_str(toml_text).unwrap();
        UseragentFilter::build(&config, &context()).unwrap()
    }

    fn event_with_agent(user_agent: &str) -> Event {
        let mut event = Event::default();
        event.insert(
            &FieldPath::parse("user_agent.original").unwrap(),
            json!(user_agent),
        );
        event
    }

    fn parsed(filter: &mut UseragentFilter, user_agent: &str) -> Value {
        let mut event = event_with_agent(user_agent);
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        Value::Object(event.to_fields())
    }

    #[test]
    fn useragent_parses_chrome_on_windows_and_keeps_the_original() {
        let mut filter = filter("");
        assert_eq!(
            parsed(&mut filter, CHROME_WINDOWS),
            json!({"user_agent": {
                "original": CHROME_WINDOWS,
                "name": "Chrome",
                "version": "124.0.6367.91",
                "os": {"name": "Windows", "version": "10", "full": "Windows 10"},
                "device": {"name": "Other"}
            }})
        );
    }

    #[test]
    fn useragent_parses_chrome_on_mac_with_the_mac_device() {
        let mut filter = filter("");
        assert_eq!(
            parsed(&mut filter, CHROME_MAC)["user_agent"],
            json!({
                "original": CHROME_MAC,
                "name": "Chrome",
                "version": "120.0.0.0",
                "os": {"name": "Mac OS X", "version": "10.15.7", "full": "Mac OS X 10.15.7"},
                "device": {"name": "Mac"}
            })
        );
    }

    #[test]
    fn useragent_parses_firefox_on_ubuntu_without_an_os_version() {
        let mut filter = filter("");
        assert_eq!(
            parsed(&mut filter, FIREFOX_UBUNTU)["user_agent"],
            json!({
                "original": FIREFOX_UBUNTU,
                "name": "Firefox",
                "version": "125.0",
                "os": {"name": "Ubuntu"},
                "device": {"name": "Other"}
            })
        );
    }

    #[test]
    fn useragent_parses_mobile_safari_on_iphone() {
        let mut filter = filter("");
        assert_eq!(
            parsed(&mut filter, SAFARI_IPHONE)["user_agent"],
            json!({
                "original": SAFARI_IPHONE,
                "name": "Mobile Safari",
                "version": "17.4.1",
                "os": {"name": "iOS", "version": "17.4.1", "full": "iOS 17.4.1"},
                "device": {"name": "iPhone"}
            })
        );
    }

    #[test]
    fn useragent_parses_googlebot_as_a_spider_without_os() {
        let mut filter = filter("");
        assert_eq!(
            parsed(&mut filter, GOOGLEBOT)["user_agent"],
            json!({
                "original": GOOGLEBOT,
                "name": "Googlebot",
                "version": "2.1",
                "device": {"name": "Spider"}
            })
        );
    }

    #[test]
    fn useragent_parses_curl() {
        let mut filter = filter("");
        assert_eq!(
            parsed(&mut filter, CURL)["user_agent"],
            json!({
                "original": CURL,
                "name": "curl",
                "version": "8.5.0",
                "device": {"name": "Other"}
            })
        );
    }

    #[test]
    fn useragent_names_unknown_and_empty_agents_other() {
        let mut filter = filter("");
        for user_agent in ["", "garbage-agent", "-"] {
            assert_eq!(
                parsed(&mut filter, user_agent)["user_agent"],
                json!({"original": user_agent, "name": "Other", "device": {"name": "Other"}}),
                "{user_agent:?}"
            );
        }
    }

    #[test]
    fn useragent_fails_without_tag_when_the_source_is_missing_or_not_text() {
        let mut filter = filter("");
        let mut event = Event::default();
        assert_eq!(filter.process(&mut event), FilterOutcome::Failure);
        assert_eq!(event, Event::default());

        let mut event = Event::default();
        event.insert(&FieldPath::parse("user_agent.original").unwrap(), json!(5));
        let before = event.clone();
        assert_eq!(filter.process(&mut event), FilterOutcome::Failure);
        assert_eq!(event, before);
    }

    #[test]
    fn useragent_reads_the_first_element_of_an_array_source() {
        let mut filter = filter(r#"source = "agent""#);
        let mut event = Event::default();
        event.insert(&FieldPath::parse("agent").unwrap(), json!([CURL, "other"]));
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(event.to_fields()["user_agent"]["name"], json!("curl"));
    }

    #[test]
    fn useragent_writes_into_the_configured_target_from_the_configured_source() {
        let mut filter = filter(
            r#"
            source = "[request][agent]"
            target = "client.ua"
            "#,
        );
        let mut event = Event::default();
        event.insert(&FieldPath::parse("request.agent").unwrap(), json!(CURL));
        event.insert(&FieldPath::parse("client.ua").unwrap(), json!("a scalar"));
        assert_eq!(filter.process(&mut event), FilterOutcome::Success);
        assert_eq!(
            event.to_fields()["client"],
            json!({"ua": {"name": "curl", "version": "8.5.0", "device": {"name": "Other"}}})
        );
    }

    #[test]
    fn useragent_replaces_stale_fields_from_an_earlier_parse() {
        let mut filter = filter("");
        let mut event = event_with_agent(CHROME_WINDOWS);
        filter.process(&mut event);
        event.insert(
            &FieldPath::parse("user_agent.original").unwrap(),
            json!(CURL),
        );
        filter.process(&mut event);
        assert_eq!(
            event.to_fields()["user_agent"],
            json!({"original": CURL, "name": "curl", "version": "8.5.0", "device": {"name": "Other"}})
        );
    }

    #[test]
    fn useragent_cache_returns_the_same_result_and_stays_bounded() {
        let mut filter = filter("cache_size = 4");
        let first = parsed(&mut filter, CHROME_WINDOWS);
        assert_eq!(parsed(&mut filter, CHROME_WINDOWS), first);
        for (i, user_agent) in [CHROME_MAC, FIREFOX_UBUNTU, SAFARI_IPHONE, GOOGLEBOT, CURL]
            .into_iter()
            .enumerate()
        {
            parsed(&mut filter, user_agent);
            let len = filter.recent.as_ref().unwrap().len();
            assert!(len <= 4, "after {} agents the cache holds {len}", i + 2);
        }
        assert_eq!(parsed(&mut filter, CHROME_WINDOWS), first);
    }

    #[test]
    fn useragent_cache_keeps_an_agent_that_is_used_again() {
        let mut recent = RecentResults::new(4);
        let details = |name: &str| UserAgentDetails {
            name: name.to_string(),
            version: None,
            os: None,
            device_name: UNKNOWN.to_string(),
        };
        recent.get_or_parse("hot", |_| details("hot"));
        for cold in ["a", "b", "c", "d", "e"] {
            recent.get_or_parse(cold, |_| details(cold));
            // "hot" is used between the others, so it must never be parsed again.
            let hot = recent.get_or_parse("hot", |_| panic!("hot was evicted"));
            assert_eq!(hot.name, "hot");
        }
    }

    #[test]
    fn useragent_without_cache_parses_every_time() {
        let mut filter = filter("cache_size = 0");
        assert!(filter.recent.is_none());
        assert_eq!(
            parsed(&mut filter, CURL)["user_agent"]["name"],
            json!("curl")
        );
    }

    #[test]
    fn useragent_config_rejects_unknown_keys() {
        let error = toml::from_str::<UseragentConfig>("field = \"x\"").unwrap_err();
        assert!(
            error.to_string().contains("unknown field `field`"),
            "{error}"
        );
    }

    #[test]
    fn useragent_dotted_version_stops_at_the_first_missing_part() {
        assert_eq!(
            dotted_version([Some("1"), Some("2"), None, Some("4")]),
            Some("1.2".into())
        );
        assert_eq!(
            dotted_version([Some("1"), Some(""), Some("3"), None]),
            Some("1".into())
        );
        assert_eq!(dotted_version::<&str>([None, None, None, None]), None);
    }

    /// Timing of the parser build and of cached and uncached parses; run with
    /// `cargo test --release --lib filters::useragent -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a check"]
    fn useragent_timings() {
        let started = Instant::now();
        let mut uncached = filter("cache_size = 0");
        println!("parser build (first filter): {:?}", started.elapsed());
        let started = Instant::now();
        let mut cached = filter("");
        println!("second filter build: {:?}", started.elapsed());
        let agents = [
            CHROME_WINDOWS,
            CHROME_MAC,
            FIREFOX_UBUNTU,
            SAFARI_IPHONE,
            GOOGLEBOT,
            CURL,
        ];
        let rounds = 2000;
        for (label, filter) in [("uncached", &mut uncached), ("cached", &mut cached)] {
            let mut events: Vec<Event> = (0..rounds)
                .map(|i| event_with_agent(agents[i % agents.len()]))
                .collect();
            let started = Instant::now();
            for event in &mut events {
                filter.process(event);
            }
            println!("{label}: {:?} per event", started.elapsed() / rounds as u32);
        }
    }
}
