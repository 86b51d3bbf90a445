//! The typed values inside commands: refs, job numbers, incident ids, durations, severities.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A branch, tag, sha or version. Strict, because it reaches subprocesses (as an
/// environment variable, never a shell string).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct GitRef(String);

/// Why a ref was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefProblem {
    Empty,
    TooLong,
    StartsWithDash,
    DoubleDot,
    BadCharacter(char),
}

impl GitRef {
    pub const MAX_LEN: usize = 128;

    pub fn new(value: &str) -> Result<GitRef, RefProblem> {
        if value.is_empty() {
            return Err(RefProblem::Empty);
        }
        if let Some(bad) = value
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')))
        {
            return Err(RefProblem::BadCharacter(bad));
        }
        if value.len() > Self::MAX_LEN {
            return Err(RefProblem::TooLong);
        }
        if value.starts_with('-') {
            return Err(RefProblem::StartsWithDash);
        }
        if value.contains("..") {
            return Err(RefProblem::DoubleDot);
        }
        Ok(GitRef(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for GitRef {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        GitRef::new(&value).map_err(|problem| problem.explain().to_owned())
    }
}

impl From<GitRef> for String {
    fn from(value: GitRef) -> String {
        value.0
    }
}

impl fmt::Display for GitRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl RefProblem {
    pub fn explain(self) -> &'static str {
        match self {
            RefProblem::Empty => "it is empty",
            RefProblem::TooLong => "it is longer than 128 characters",
            RefProblem::StartsWithDash => "it starts with `-`",
            RefProblem::DoubleDot => "it contains `..`",
            RefProblem::BadCharacter(_) => "it has a character outside `A-Z a-z 0-9 . _ / -`",
        }
    }
}

/// A job number, written `12` or `#12`. Backups are named by the job that made them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobNumber(pub u64);

impl JobNumber {
    pub fn parse(value: &str) -> Option<JobNumber> {
        let digits = value.strip_prefix('#').unwrap_or(value);
        parse_positive(digits).map(JobNumber)
    }
}

impl fmt::Display for JobNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An incident, written `INC-7` (also `7` or `#7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IncidentId(pub u64);

impl IncidentId {
    pub fn parse(value: &str) -> Option<IncidentId> {
        let digits = value
            .get(..4)
            .filter(|prefix| prefix.eq_ignore_ascii_case("inc-"))
            .map(|_| &value[4..])
            .or_else(|| value.strip_prefix('#'))
            .unwrap_or(value);
        parse_positive(digits).map(IncidentId)
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

/// Only plain ASCII digits, no sign, not zero.
fn parse_positive(digits: &str) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// A length of time as people type it: `90d`, `2h`, `30m`, `1h30m`, `2w`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HumanDuration(std::time::Duration);

/// No duration deckhand reads is longer: anything beyond is a typo, and a bound keeps
/// every `now + duration` far from overflowing.
pub const LONGEST: HumanDuration = HumanDuration(std::time::Duration::from_secs(10 * 365 * 86_400));

impl HumanDuration {
    /// Whole seconds, at least one, at most `LONGEST`.
    pub fn parse(value: &str) -> Option<HumanDuration> {
        let duration = humantime::parse_duration(value).ok()?;
        (duration.as_secs() > 0 && duration.subsec_nanos() == 0 && duration <= LONGEST.0)
            .then_some(HumanDuration(duration))
    }

    /// A typed duration for `what`, checked against its own range.
    pub fn parse_within(
        value: &str,
        what: &'static str,
        range: std::ops::RangeInclusive<HumanDuration>,
    ) -> Result<HumanDuration, crate::ParseError> {
        let parsed = humantime::parse_duration(value)
            .ok()
            .filter(|d| d.as_secs() > 0 && d.subsec_nanos() == 0)
            .map(HumanDuration)
            .ok_or_else(|| crate::ParseError::InvalidDuration {
                given: value.to_owned(),
            })?;
        if range.contains(&parsed) {
            Ok(parsed)
        } else {
            Err(crate::ParseError::DurationOutOfRange {
                given: value.to_owned(),
                what,
                least: *range.start(),
                most: *range.end(),
            })
        }
    }

    pub const fn days(days: u64) -> HumanDuration {
        HumanDuration(std::time::Duration::from_secs(days * 86_400))
    }

    pub const fn seconds(seconds: u64) -> HumanDuration {
        HumanDuration(std::time::Duration::from_secs(seconds))
    }

    pub const fn minutes(minutes: u64) -> HumanDuration {
        HumanDuration(std::time::Duration::from_secs(minutes * 60))
    }

    pub fn from_secs(secs: u64) -> Option<HumanDuration> {
        (secs > 0).then_some(HumanDuration(std::time::Duration::from_secs(secs)))
    }

    pub fn as_std(self) -> std::time::Duration {
        self.0
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }
}

/// Compact and re-parseable: `90d`, `1h30m`, `45s`.
impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut secs = self.0.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if secs >= size {
                write!(f, "{}{unit}", secs / size)?;
                secs %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HumanDuration::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration; write it like `30s`, `10m`, `2h` or `90d`"
            ))
        })
    }
}

/// Generates a closed vocabulary: the enum, its words, parsing and display.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// Case-insensitive.
            pub fn parse(value: &str) -> Option<$name> {
                $(if value.eq_ignore_ascii_case($word) { return Some($name::$variant); })+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// How bad an incident is; sev1 is the worst.
    Severity { Sev1 = "sev1", Sev2 = "sev2", Sev3 = "sev3", Sev4 = "sev4" }
);

vocabulary!(
    /// The `type` of an announcement (DESIGN.md, announcement schema).
    AnnouncementType {
        Info = "info",
        Resolution = "resolution",
        Deployment = "deployment",
        Incident = "incident",
        Maintenance = "maintenance",
        Reminder = "reminder",
        Blocker = "blocker",
    }
);

vocabulary!(
    /// The `priority` of an announcement.
    Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
);

/// Someone named in a command: a chat mention (`<@U123|bob>`, `<@123>`) or a typed name
/// (`@bob`, `bob`, `slack:U123`, or a role name such as `approvers`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Person {
    /// The platform's user id from a mention; the caller knows which platform.
    Mention(String),
    /// As typed, without a leading `@`.
    Name(String),
}

impl Person {
    pub fn parse(value: &str) -> Option<Person> {
        if let Some(inner) = value.strip_prefix("<@").and_then(|v| v.strip_suffix('>')) {
            let id = inner.split('|').next().unwrap_or_default();
            let id = id.strip_prefix('!').unwrap_or(id);
            return (!id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
                .then(|| Person::Mention(id.to_owned()));
        }
        let name = value.strip_prefix('@').unwrap_or(value);
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
        valid.then(|| Person::Name(name.to_owned()))
    }
}

impl fmt::Display for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Person::Mention(id) => write!(f, "<@{id}>"),
            Person::Name(name) => write!(f, "@{name}"),
        }
    }
}

/// The longest env or app name.
const MAX_NAME: usize = 64;

/// An env or app name as deckhand keeps it: lower-case letters, digits, `-` and `_`,
/// starting with a letter or digit. Capitals are folded, since phones capitalise the
/// first word people type; anything else is refused with the rule.
pub(crate) fn name(what: &'static str, given: &str) -> Result<String, crate::ParseError> {
    let folded = given.to_ascii_lowercase();
    if is_name(&folded) {
        Ok(folded)
    } else {
        Err(crate::ParseError::InvalidName {
            what,
            given: given.to_owned(),
        })
    }
}

/// Whether `name` can be an env or app name: `[a-z0-9][a-z0-9_-]*`, at most 64 bytes.
pub fn is_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Whether `name` can be a secret's name: an environment variable name.
pub fn is_secret_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_follow_the_strict_pattern() {
        assert!(GitRef::new("v1.2.3").is_ok());
        assert!(GitRef::new("feature/login-page").is_ok());
        assert!(GitRef::new("a1b2c3d").is_ok());
        assert_eq!(GitRef::new(""), Err(RefProblem::Empty));
        assert_eq!(GitRef::new("-rf"), Err(RefProblem::StartsWithDash));
        assert_eq!(GitRef::new("main..evil"), Err(RefProblem::DoubleDot));
        assert_eq!(GitRef::new("a;b"), Err(RefProblem::BadCharacter(';')));
        assert_eq!(GitRef::new("$(id)"), Err(RefProblem::BadCharacter('$')));
        assert_eq!(GitRef::new(&"a".repeat(129)), Err(RefProblem::TooLong));
        assert!(GitRef::new(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn job_numbers_take_an_optional_hash() {
        assert_eq!(JobNumber::parse("12"), Some(JobNumber(12)));
        assert_eq!(JobNumber::parse("#12"), Some(JobNumber(12)));
        assert_eq!(JobNumber::parse("0"), None);
        assert_eq!(JobNumber::parse("-1"), None);
        assert_eq!(JobNumber::parse("+1"), None);
        assert_eq!(JobNumber::parse("99999999999999999999999"), None);
    }

    #[test]
    fn incident_ids_take_inc_prefix_in_any_case() {
        assert_eq!(IncidentId::parse("INC-7"), Some(IncidentId(7)));
        assert_eq!(IncidentId::parse("inc-7"), Some(IncidentId(7)));
        assert_eq!(IncidentId::parse("#7"), Some(IncidentId(7)));
        assert_eq!(IncidentId::parse("7"), Some(IncidentId(7)));
        assert_eq!(IncidentId::parse("INC-"), None);
        assert_eq!(IncidentId::parse("ïnc-7"), None);
    }

    #[test]
    fn durations_parse_and_print_compactly() {
        assert_eq!(HumanDuration::parse("90d").unwrap().as_secs(), 90 * 86_400);
        assert_eq!(HumanDuration::parse("2h").unwrap().as_secs(), 7_200);
        assert_eq!(HumanDuration::parse("30m").unwrap().as_secs(), 1_800);
        assert_eq!(HumanDuration::parse("1h30m").unwrap().to_string(), "1h30m");
        assert_eq!(HumanDuration::parse("2w").unwrap().to_string(), "14d");
        assert_eq!(HumanDuration::parse("0s"), None);
        assert_eq!(HumanDuration::parse("soon"), None);
        assert_eq!(HumanDuration::parse("90"), None);
        assert_eq!(HumanDuration::parse("10ms"), None);
        assert_eq!(HumanDuration::parse("300000000y"), None, "beyond LONGEST");
        assert_eq!(
            HumanDuration::parse("10y").map(HumanDuration::as_secs),
            None
        );
        assert!(HumanDuration::parse("9y").is_some());
    }

    #[test]
    fn people_are_mentions_or_names() {
        assert_eq!(
            Person::parse("<@U123|bob>"),
            Some(Person::Mention("U123".into()))
        );
        assert_eq!(
            Person::parse("<@!4455>"),
            Some(Person::Mention("4455".into()))
        );
        assert_eq!(Person::parse("@alice"), Some(Person::Name("alice".into())));
        assert_eq!(
            Person::parse("slack:U1"),
            Some(Person::Name("slack:U1".into()))
        );
        assert_eq!(Person::parse("@"), None);
        assert_eq!(Person::parse("a b"), None);
    }
}
