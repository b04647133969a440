//! When a schedule is due: an interval or a cron expression (croner) read in a timezone.
//! Pure functions of the given times: must not read the clock nor the database.

use chrono::{DateTime, Local, TimeZone, Utc};
use croner::Cron;

/// Below this an interval would only load the daemon; tests use 1-2 s.
pub const MIN_EVERY_SECS: u64 = 1;

/// How a schedule repeats, checked.
#[derive(Debug, Clone)]
pub enum Repeat {
    Every { secs: u64 },
    Cron { cron: Box<Cron>, tz: Zone },
}

/// The timezones accepted: the daemon's own, or UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Local,
    Utc,
}

impl Zone {
    pub fn parse(text: Option<&str>) -> Result<Zone, TimingError> {
        match text.map(str::trim) {
            None | Some("") => Ok(Zone::Local),
            Some(t) if t.eq_ignore_ascii_case("local") => Ok(Zone::Local),
            Some(t) if t.eq_ignore_ascii_case("utc") || t == "Z" => Ok(Zone::Utc),
            Some(t) => Err(TimingError::Zone(t.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Local => "local",
            Zone::Utc => "UTC",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    #[error("give exactly one of --every and --cron")]
    NotOne,
    #[error("--every must be at least {MIN_EVERY_SECS}s")]
    TooOften,
    #[error("'{expr}' is not a cron expression: {why}")]
    Cron { expr: String, why: String },
    #[error("'{0}' is not a timezone this daemon knows: use local or UTC")]
    Zone(String),
    #[error("'{0}' never comes again")]
    Never(String),
}

impl Repeat {
    pub fn new(
        every_secs: Option<u64>,
        cron: Option<&str>,
        tz: Option<&str>,
    ) -> Result<Repeat, TimingError> {
        match (every_secs, cron) {
            (Some(secs), None) if secs < MIN_EVERY_SECS => Err(TimingError::TooOften),
            (Some(secs), None) => Ok(Repeat::Every { secs }),
            (None, Some(expr)) => {
                let cron = Cron::new(expr)
                    .with_seconds_optional()
                    .parse()
                    .map_err(|e| TimingError::Cron {
                        expr: expr.to_string(),
                        why: e.to_string(),
                    })?;
                Ok(Repeat::Cron {
                    cron: Box::new(cron),
                    tz: Zone::parse(tz)?,
                })
            }
            _ => Err(TimingError::NotOne),
        }
    }

    /// The first due time strictly after `after` (Unix ms).
    pub fn next_after(&self, after_ms: i64) -> Result<i64, TimingError> {
        match self {
            Repeat::Every { secs } => Ok(after_ms.saturating_add((*secs as i64) * 1000)),
            Repeat::Cron { cron, tz } => {
                let next = match tz {
                    Zone::Local => next_cron(cron, &Local, after_ms),
                    Zone::Utc => next_cron(cron, &Utc, after_ms),
                };
                next.ok_or_else(|| TimingError::Never(cron.pattern.to_string()))
            }
        }
    }
}

fn next_cron<Tz: TimeZone>(cron: &Cron, tz: &Tz, after_ms: i64) -> Option<i64> {
    let at: DateTime<Tz> = DateTime::from_timestamp_millis(after_ms)?.with_timezone(tz);
    cron.find_next_occurrence(&at, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The due time after a due run at `now_ms`: counted from now, not from the old due time,
/// so a daemon that was down across many due times runs the schedule once, not once per
/// missed time.
pub fn after_run(repeat: &Repeat, now_ms: i64) -> Result<i64, TimingError> {
    repeat.next_after(now_ms)
}

/// Whether a schedule whose due time is `next_ms` runs at `now_ms`.
pub fn is_due(next_ms: Option<i64>, now_ms: i64) -> bool {
    next_ms.is_some_and(|n| n <= now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn an_interval_is_counted_from_the_given_time() {
        let r = Repeat::new(Some(7200), None, None).unwrap();
        let t = utc("2026-11-30T10:00:00Z");
        assert_eq!(r.next_after(t).unwrap(), utc("2026-11-30T12:00:00Z"));
        assert_eq!(
            Repeat::new(Some(0), None, None).unwrap_err(),
            TimingError::TooOften
        );
    }

    #[test]
    fn exactly_one_of_interval_and_cron() {
        assert_eq!(
            Repeat::new(None, None, None).unwrap_err(),
            TimingError::NotOne
        );
        assert_eq!(
            Repeat::new(Some(5), Some("* * * * *"), None).unwrap_err(),
            TimingError::NotOne
        );
        assert!(matches!(
            Repeat::new(None, Some("61 * * * *"), None),
            Err(TimingError::Cron { .. })
        ));
        assert!(matches!(
            Repeat::new(None, Some("0 3 * * *"), Some("Mars/Olympus")),
            Err(TimingError::Zone(_))
        ));
    }

    #[test]
    fn cron_skips_to_the_next_working_day_in_utc() {
        let r = Repeat::new(None, Some("0 3 * * 1-5"), Some("UTC")).unwrap();
        // Friday 2026-12-04 04:00: the next 03:00 on a weekday is Monday 2026-12-07.
        let fri = utc("2026-12-04T04:00:00Z");
        assert_eq!(r.next_after(fri).unwrap(), utc("2026-12-07T03:00:00Z"));
        // Exactly at a due time: the next one, never the same again.
        let mon = utc("2026-12-07T03:00:00Z");
        assert_eq!(r.next_after(mon).unwrap(), utc("2026-12-08T03:00:00Z"));
    }

    #[test]
    fn cron_in_local_time_follows_the_daemon_timezone() {
        let r = Repeat::new(None, Some("30 14 * * *"), None).unwrap();
        let t = utc("2026-06-01T00:00:00Z");
        let next = DateTime::from_timestamp_millis(r.next_after(t).unwrap())
            .unwrap()
            .with_timezone(&Local);
        assert_eq!(next.format("%H:%M").to_string(), "14:30");
        assert!(next.timestamp_millis() > t);
    }

    #[test]
    fn missed_runs_are_one_run_then_the_next_time_after_now() {
        let r = Repeat::new(Some(10), None, None).unwrap();
        let due = utc("2026-11-30T10:00:00Z");
        // The daemon comes back an hour later: 360 due times passed.
        let now = utc("2026-11-30T11:00:00Z");
        assert!(is_due(Some(due), now));
        let next = after_run(&r, now).unwrap();
        assert_eq!(next, now + 10_000);
        assert!(!is_due(Some(next), now), "a second run at the same moment");
        assert!(!is_due(None, now), "paused");

        let c = Repeat::new(None, Some("*/5 * * * *"), Some("utc")).unwrap();
        let next = after_run(&c, now).unwrap();
        assert_eq!(next, utc("2026-11-30T11:05:00Z"));
    }
}
