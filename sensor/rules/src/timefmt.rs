//! Wall-clock renderings of event times (falco-fields.md 4.2). Lanner renders the time-of-day
//! forms in UTC, where Falco uses the host's local zone: nodes run in UTC almost everywhere,
//! and an alert's text should not depend on the sensor pod's TZ.

/// (year, month, day, hour, minute, second, nanosecond) of `ns` since the epoch, UTC.
pub fn civil(ns: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = (ns % 1_000_000_000) as u32;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    // Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, sod / 3600, sod / 60 % 60, sod % 60, nanos)
}

/// `HH:MM:SS.nnnnnnnnn` (`evt.time`).
pub fn time(ns: u64) -> String {
    let (_, _, _, h, m, s, n) = civil(ns);
    format!("{h:02}:{m:02}:{s:02}.{n:09}")
}

/// `HH:MM:SS` (`evt.time.s`).
pub fn time_s(ns: u64) -> String {
    let (_, _, _, h, m, s, _) = civil(ns);
    format!("{h:02}:{m:02}:{s:02}")
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000` (`evt.time.iso8601`).
pub fn iso8601(ns: u64) -> String {
    let (y, mo, d, h, m, s, n) = civil(ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}+0000")
}

/// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (`evt.datetime`).
pub fn datetime(ns: u64) -> String {
    let (y, mo, d, h, m, s, n) = civil(ns);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}.{n:09}")
}

/// `YYYY-MM-DD HH:MM:SS` (`evt.datetime.s`).
pub fn datetime_s(ns: u64) -> String {
    let (y, mo, d, h, m, s, _) = civil(ns);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}")
}

/// RFC 3339 UTC with nanoseconds, `Z` suffix: the alert's `time` key.
pub fn rfc3339(ns: u64) -> String {
    let (y, mo, d, h, m, s, n) = civil(ns);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // 2023-05-25T13:44:05.478445995Z, the Falco docs' example alert.
        let ns = 1_685_022_245_478_445_995;
        assert_eq!(rfc3339(ns), "2023-05-25T13:44:05.478445995Z");
        assert_eq!(time(ns), "13:44:05.478445995");
        assert_eq!(time_s(ns), "13:44:05");
        assert_eq!(iso8601(ns), "2023-05-25T13:44:05.478445995+0000");
        assert_eq!(datetime_s(ns), "2023-05-25 13:44:05");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        // Leap day.
        assert_eq!(
            datetime(951_782_400_000_000_001),
            "2000-02-29 00:00:00.000000001"
        );
    }
}
