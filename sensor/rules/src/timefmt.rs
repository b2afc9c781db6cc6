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

/// The pieces a rendering is made of, appended to `out`. Digits are written by hand: with
/// `format!`, the time and `time` key cost more than the rest of an alert's output fields.
#[derive(Clone, Copy)]
enum Piece {
    /// `YYYY-MM-DD`
    Date,
    /// `HH:MM:SS`
    Clock,
    /// `.nnnnnnnnn`
    Nanos,
    Text(&'static str),
}

fn render(ns: u64, pieces: &[Piece]) -> String {
    let (y, mo, d, h, m, s, n) = civil(ns);
    let mut out = String::with_capacity(40);
    for p in pieces {
        match *p {
            Piece::Date => {
                digits(&mut out, y.unsigned_abs(), 4);
                out.push('-');
                digits(&mut out, u64::from(mo), 2);
                out.push('-');
                digits(&mut out, u64::from(d), 2);
            }
            Piece::Clock => {
                digits(&mut out, u64::from(h), 2);
                out.push(':');
                digits(&mut out, u64::from(m), 2);
                out.push(':');
                digits(&mut out, u64::from(s), 2);
            }
            Piece::Nanos => {
                out.push('.');
                digits(&mut out, u64::from(n), 9);
            }
            Piece::Text(t) => out.push_str(t),
        }
    }
    out
}

/// `n` in decimal, zero-padded to at least `width` digits.
fn digits(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut at = buf.len();
    while n > 0 || buf.len() - at < width {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    for &b in &buf[at..] {
        out.push(char::from(b));
    }
}

use Piece::{Clock, Date, Nanos, Text};

/// `HH:MM:SS.nnnnnnnnn` (`evt.time`).
pub fn time(ns: u64) -> String {
    render(ns, &[Clock, Nanos])
}

/// `HH:MM:SS` (`evt.time.s`).
pub fn time_s(ns: u64) -> String {
    render(ns, &[Clock])
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+0000` (`evt.time.iso8601`).
pub fn iso8601(ns: u64) -> String {
    render(ns, &[Date, Text("T"), Clock, Nanos, Text("+0000")])
}

/// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (`evt.datetime`).
pub fn datetime(ns: u64) -> String {
    render(ns, &[Date, Text(" "), Clock, Nanos])
}

/// `YYYY-MM-DD HH:MM:SS` (`evt.datetime.s`).
pub fn datetime_s(ns: u64) -> String {
    render(ns, &[Date, Text(" "), Clock])
}

/// RFC 3339 UTC with nanoseconds, `Z` suffix: the alert's `time` key.
pub fn rfc3339(ns: u64) -> String {
    render(ns, &[Date, Text("T"), Clock, Nanos, Text("Z")])
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
        // The last instant a u64 holds.
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }

    /// Every rendering agrees with `format!` over instants spread across the range.
    #[test]
    fn matches_format_across_the_range() {
        let mut ns = 7u64;
        while ns < u64::MAX / 3 {
            let (y, mo, d, h, m, s, n) = civil(ns);
            assert_eq!(
                rfc3339(ns),
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{n:09}Z")
            );
            assert_eq!(
                datetime_s(ns),
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}")
            );
            ns = ns * 3 + 12_345;
        }
    }
}
