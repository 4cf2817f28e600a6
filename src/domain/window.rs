//! Durations (`72h`, `3d`, `1h30m`) and the engagement window.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use super::values::ParseResult;

/// How far in the past a requested `start` may lie (clock skew, queueing).
pub const START_PAST_TOLERANCE: Duration = Duration::minutes(5);
/// How far ahead a requested `start` may lie.
pub const START_MAX_AHEAD: Duration = Duration::days(90);

/// Parses a positive duration of whole units `d`, `h`, `m`, `s`, largest first,
/// each at most once: `72h`, `3d`, `1h30m`, `2d12h`, `90s`.
pub fn parse_duration(raw: &str) -> ParseResult<Duration> {
    const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];
    let err = || {
        format!(
            "{raw:?} is not a duration: use whole units d, h, m, s, largest first, e.g. 72h, 3d, 1h30m"
        )
    };
    if raw.is_empty() || raw.len() > 32 {
        return Err(err());
    }
    let mut rest = raw;
    let mut seconds: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 12 {
            return Err(err());
        }
        let value: i64 = rest[..digits].parse().map_err(|_| err())?;
        let unit = rest[digits..].chars().next().ok_or_else(err)?;
        let pos = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(err)?;
        let factor = UNITS[next_unit + pos].1;
        next_unit += pos + 1;
        seconds = value
            .checked_mul(factor)
            .and_then(|v| seconds.checked_add(v))
            .ok_or_else(err)?;
        rest = &rest[digits + 1..];
    }
    if seconds <= 0 {
        return Err("must be positive".into());
    }
    Duration::try_seconds(seconds).ok_or_else(err)
}

/// Formats a duration the way `parse_duration` reads it (`30d`, `1h30m`).
pub fn format_duration(d: Duration) -> String {
    let mut s = d.num_seconds();
    let mut out = String::new();
    for (unit, factor) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if s >= factor {
            out.push_str(&format!("{}{unit}", s / factor));
            s %= factor;
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

/// Parses an RFC 3339 timestamp, to whole seconds in UTC (IAM's `aws:CurrentTime`
/// compares at that precision, and a window must read the same everywhere).
pub fn parse_timestamp(raw: &str) -> ParseResult<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| format!("{raw:?} is not an RFC 3339 timestamp like 2026-12-01T09:00:00Z"))?;
    let t = t.with_timezone(&Utc);
    Ok(truncate_to_second(t))
}

pub fn truncate_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).expect("a valid timestamp stays valid")
}

pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The engagement window, `start < end`, whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Window {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> ParseResult<Self> {
        if end <= start {
            return Err("end must be after start".into());
        }
        Ok(Window {
            start: truncate_to_second(start),
            end: truncate_to_second(end),
        })
    }
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
    pub fn length(&self) -> Duration {
        self.end - self.start
    }
    pub fn with_end(&self, end: DateTime<Utc>) -> ParseResult<Self> {
        Window::new(self.start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_accepts_whole_units_combined_largest_first() {
        let cases = [
            ("72h", 72 * 3600),
            ("3d", 3 * 86400),
            ("1h30m", 5400),
            ("2d12h", 60 * 3600),
            ("90s", 90),
            ("1d1h1m1s", 90061),
            ("0h5m", 300),
        ];
        for (raw, secs) in cases {
            assert_eq!(parse_duration(raw).unwrap().num_seconds(), secs, "{raw}");
        }
    }

    #[test]
    fn duration_rejects_everything_else() {
        for bad in [
            "",
            "0s",
            "0d0h",
            "h",
            "72",
            "1.5h",
            "-1h",
            "+1h",
            "1w",
            "30m1h",
            "1h1h",
            "1H",
            " 1h",
            "1h ",
            "1 h",
            "PT1H",
            "99999999999999d",
            "1d-1h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn duration_format_round_trips() {
        for raw in ["30d", "1h30m", "72h", "1d1h1m1s", "45s"] {
            let d = parse_duration(raw).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn timestamps_are_rfc3339_normalised_to_utc_seconds() {
        let t = parse_timestamp("2026-12-01T10:00:00.750+01:00").unwrap();
        assert_eq!(format_timestamp(t), "2026-12-01T09:00:00Z");
        for bad in [
            "2026-12-01",
            "2026-12-01 09:00:00",
            "tomorrow",
            "",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn window_end_must_follow_start() {
        let t = parse_timestamp("2026-12-01T09:00:00Z").unwrap();
        assert!(Window::new(t, t).is_err());
        assert!(Window::new(t, t - Duration::seconds(1)).is_err());
        assert_eq!(
            Window::new(t, t + Duration::hours(1)).unwrap().length(),
            Duration::hours(1)
        );
    }
}
