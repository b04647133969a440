//! Times and durations as people read them: local time (the TZ variable honoured, through
//! jiff), `17.6s` / `2m03s`, "4 min ago". Must not print; `--json` keeps RFC 3339 as sent.

use jiff::{tz::TimeZone, Timestamp};

/// An RFC 3339 time from the daemon as local time ("2026-11-30 21:04:05"); the text as it
/// came when it is not RFC 3339.
pub fn local(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned(TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => rfc3339.to_string(),
    }
}

/// Milliseconds between two RFC 3339 times, when both parse and are in order.
pub fn between_ms(from: &str, to: &str) -> Option<u64> {
    let (a, b) = (
        from.parse::<Timestamp>().ok()?,
        to.parse::<Timestamp>().ok()?,
    );
    u64::try_from(b.as_millisecond() - a.as_millisecond()).ok()
}

/// "45 s ago", "4 min ago", "2 h ago", "3 days ago": how long before now an RFC 3339 time
/// was, rounded down to its largest unit; None when it does not parse.
pub fn ago(rfc3339: &str) -> Option<String> {
    let then = rfc3339.parse::<Timestamp>().ok()?;
    let secs = ((Timestamp::now().as_millisecond() - then.as_millisecond()) / 1000).max(0);
    Some(match secs {
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    })
}

/// `850ms`, `17.6s`, `2m03s`, `1h05m`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(17_600), "17.6s");
        assert_eq!(duration(123_000), "2m03s");
        assert_eq!(duration(3_900_000), "1h05m");
    }

    #[test]
    fn times_are_shown_in_the_zone_of_tz() {
        // jiff reads TZ when the system zone is first asked for: one test sets it.
        std::env::set_var("TZ", "Asia/Tokyo");
        assert_eq!(local("2026-11-30T12:00:00.000Z"), "2026-11-30 21:00:00");
        assert_eq!(local("not a time"), "not a time");
        let four_min = Timestamp::now() - jiff::SignedDuration::from_secs(245);
        assert_eq!(ago(&four_min.to_string()).as_deref(), Some("4 min ago"));
        assert_eq!(ago("never"), None);
        assert_eq!(
            between_ms("2026-11-30T12:00:00.000Z", "2026-11-30T12:02:03.500Z"),
            Some(123_500)
        );
    }
}
