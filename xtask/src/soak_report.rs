//! Renders SOAK.md and SOAK-rss.svg from a `cargo xtask soak` run, with its verdicts.

use std::fmt::Write as _;

use serde_json::Value;

/// One second of the soak.
pub struct Sample {
    pub at_s: f64,
    pub rss_kib: u64,
    /// Anonymous memory (the heap and stacks; the ring buffer's pages are counted apart).
    pub anon_kib: u64,
    /// Resident pages of the BPF maps mapped into the sensor (the ring buffer).
    pub ring_kib: u64,
    /// The sensor's CPU time since the load started.
    pub cpu_ticks: u64,
    pub healthy: bool,
}

pub struct Soak {
    pub minutes: u64,
    pub rate: u64,
    pub elapsed_s: f64,
    pub execs: u64,
    pub connects: u64,
    pub probes: u64,
    pub probe_alerts: u64,
    pub health_failures: u64,
    pub worst_health_s: f64,
    pub samples: Vec<Sample>,
    /// The sensor's counters at exit.
    pub stats: Value,
    /// Non-zero `lanner_events_lost_total` series at the end.
    pub metrics_tail: Vec<String>,
    pub command_line: String,
    pub clock_ticks: u64,
}

/// RSS may end at most this much above where it was after the warm-up, plus [`RSS_SLACK_KIB`].
const RSS_GROWTH: f64 = 0.10;
const RSS_SLACK_KIB: u64 = 2048;
/// The load must reach this share of the rate asked, or the soak did not test it.
const RATE_FLOOR: f64 = 0.9;

impl Soak {
    fn events_made(&self) -> u64 {
        3 * (self.execs + self.probes) + self.connects
    }

    fn rate_reached(&self) -> f64 {
        self.events_made() as f64 / self.elapsed_s
    }

    /// Max RSS of the first and the last third after the first tenth (warm-up), KiB.
    fn rss_windows(&self) -> (u64, u64) {
        let n = self.samples.len();
        let warm = n / 10;
        let third = (n - warm) / 3;
        let max = |s: &[Sample]| s.iter().map(|x| x.rss_kib).max().unwrap_or(0);
        (
            max(&self.samples[warm..warm + third]),
            max(&self.samples[n - third..]),
        )
    }

    /// Least-squares slope of RSS after the warm-up, KiB per minute.
    fn rss_slope(&self) -> f64 {
        let s = &self.samples[self.samples.len() / 10..];
        let n = s.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let (mx, my) = (
            s.iter().map(|x| x.at_s).sum::<f64>() / n,
            s.iter().map(|x| x.rss_kib as f64).sum::<f64>() / n,
        );
        let cov: f64 = s
            .iter()
            .map(|x| (x.at_s - mx) * (x.rss_kib as f64 - my))
            .sum();
        let var: f64 = s.iter().map(|x| (x.at_s - mx).powi(2)).sum();
        if var == 0.0 { 0.0 } else { cov / var * 60.0 }
    }

    fn counted(&self, kind: &str) -> (u64, u64) {
        let lost = &self.stats["lost"][kind];
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        (
            n(&self.stats["events"][kind]),
            n(&lost["ringbuf_full"]) + n(&lost["dropped"]),
        )
    }

    /// Events the load made that the sensor neither read nor counted as lost. The sensor sees
    /// the whole host, so what it read also holds others' events: this is a lower bound of
    /// zero when nothing went missing, and positive only when something did.
    fn unaccounted(&self, kind: &str, made: u64) -> u64 {
        let (read, lost) = self.counted(kind);
        made.saturating_sub(read + lost)
    }

    fn verdicts(&self) -> Vec<(&'static str, String, bool)> {
        let (early, late) = self.rss_windows();
        let limit = (early as f64 * (1.0 + RSS_GROWTH)) as u64 + RSS_SLACK_KIB;
        let execs_made = self.execs + self.probes;
        let un_exec = self.unaccounted("exec", execs_made);
        let un_connect = self.unaccounted("connect", self.connects);
        let decode = self.stats["user_lost"]["decode_error"]
            .as_u64()
            .unwrap_or(0);
        vec![
            (
                "load reached the rate asked",
                format!(
                    "{:.0} events/s of {} (floor {:.0}%)",
                    self.rate_reached(),
                    self.rate,
                    RATE_FLOOR * 100.0
                ),
                self.rate_reached() >= self.rate as f64 * RATE_FLOOR,
            ),
            (
                "RSS flat",
                format!(
                    "max {} KiB in the last third vs {} KiB in the first (after the warm-up); limit {} KiB; slope {:+.1} KiB/min",
                    late,
                    early,
                    limit,
                    self.rss_slope()
                ),
                late <= limit,
            ),
            (
                "zero unaccounted loss",
                format!(
                    "exec: {un_exec} of {execs_made} unaccounted; connect: {un_connect} of {} unaccounted; decode errors {decode}",
                    self.connects
                ),
                un_exec == 0 && un_connect == 0 && decode == 0,
            ),
            (
                "health always answering",
                format!(
                    "{} of {} /healthz failed or took over 2 s; slowest {:.3} s",
                    self.health_failures,
                    self.samples.len(),
                    self.worst_health_s
                ),
                self.health_failures == 0,
            ),
            (
                "every probe alerted",
                format!("{} alerts for {} probes", self.probe_alerts, self.probes),
                self.probe_alerts == self.probes,
            ),
        ]
    }

    pub fn passed(&self) -> bool {
        self.verdicts().iter().all(|(_, _, ok)| *ok)
    }
}

pub fn render(command: &str, s: &Soak) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Soak\n");
    let _ = writeln!(
        md,
        "Generated by `{command}`. Do not edit by hand: rerun it. Not part of `cargo xtask test`.\n"
    );
    crate::report::machine(&mut md);
    let _ = writeln!(
        md,
        "- Sensor: `{}` (the official rules plus a probe rule)\n- Load: {} min at {} events/s asked: \
         `/bin/true` execs (fork, exec, exit: three events each) for a fifth of the events, \
         connects to a closed loopback port for the rest; a probe exec every second that must \
         raise an alert; `/healthz` asked every second with a 2 s timeout; RSS and CPU time \
         read every second.\n",
        s.command_line, s.minutes, s.rate
    );
    let _ = writeln!(md, "## Verdicts\n\n| check | measured | |\n|---|---|---|");
    for (name, what, ok) in s.verdicts() {
        let _ = writeln!(
            md,
            "| {name} | {what} | {} |",
            if ok { "pass" } else { "FAIL" }
        );
    }
    let (cpu_s, wall) = (
        s.samples.last().map_or(0, |x| x.cpu_ticks) as f64 / s.clock_ticks as f64,
        s.elapsed_s,
    );
    let _ = writeln!(
        md,
        "\nMade: {} execs, {} connects, {} probes in {:.0} s. The sensor used {:.1} s of CPU \
         ({:.1}% of one core).\n",
        s.execs,
        s.connects,
        s.probes,
        wall,
        cpu_s,
        100.0 * cpu_s / wall
    );
    let _ = writeln!(
        md,
        "Counters at exit (`--stats-file`):\n\n```json\n{}\n```\n",
        s.stats
    );
    if !s.metrics_tail.is_empty() {
        let _ = writeln!(md, "Non-zero loss series at the end:\n\n```");
        for l in &s.metrics_tail {
            let _ = writeln!(md, "{l}");
        }
        let _ = writeln!(md, "```\n");
    }
    let _ = writeln!(md, "## RSS\n\n![RSS over the soak](SOAK-rss.svg)\n");
    let _ = writeln!(
        md,
        "| minute | RSS min (KiB) | RSS max (KiB) | of which anonymous, max (KiB) | of which BPF maps (KiB) | CPU (% of a core) | /healthz failures |\n|---|---|---|---|---|---|---|"
    );
    let mut prev_ticks = 0;
    for (m, chunk) in s.samples.chunks(60).enumerate() {
        let lo = chunk.iter().map(|x| x.rss_kib).min().unwrap_or(0);
        let hi = chunk.iter().map(|x| x.rss_kib).max().unwrap_or(0);
        let ticks = chunk.last().map_or(prev_ticks, |x| x.cpu_ticks);
        let secs = chunk.len() as f64;
        let cpu = 100.0 * (ticks - prev_ticks) as f64 / s.clock_ticks as f64 / secs;
        prev_ticks = ticks;
        let failed = chunk.iter().filter(|x| !x.healthy).count();
        let anon = chunk.iter().map(|x| x.anon_kib).max().unwrap_or(0);
        let ring = chunk.last().map_or(0, |x| x.ring_kib);
        let _ = writeln!(
            md,
            "| {} | {lo} | {hi} | {anon} | {ring} | {cpu:.1} | {failed} |",
            m + 1
        );
    }
    md
}

/// RSS (MiB) against time, one point a second.
pub fn svg(s: &Soak) -> String {
    let (w, h, pad) = (800.0, 300.0, 50.0);
    let max_t = s.samples.last().map_or(1.0, |x| x.at_s).max(1.0);
    let max_mib = s
        .samples
        .iter()
        .map(|x| x.rss_kib as f64 / 1024.0)
        .fold(1.0, f64::max)
        * 1.2;
    let x = |t: f64| pad + t / max_t * (w - 2.0 * pad);
    let y = |m: f64| h - pad - m / max_mib * (h - 2.0 * pad);
    let points: Vec<String> = s
        .samples
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.at_s), y(p.rss_kib as f64 / 1024.0)))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="black"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{b}" stroke="black"/>"#,
        b = h - pad,
        r = w - pad
    );
    for i in 0..=4 {
        let m = max_mib * f64::from(i) / 4.0;
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{m:.0} MiB</text>"#,
            pad - 4.0,
            y(m) + 4.0
        );
    }
    for i in 0..=5 {
        let t = max_t * f64::from(i) / 5.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{:.0} s</text>"#,
            x(t),
            h - pad + 16.0,
            t
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="20" text-anchor="middle">Sensor RSS during the soak ({} events/s asked)</text>"#,
        w / 2.0,
        s.rate
    );
    let _ = writeln!(
        out,
        r#"<polyline fill="none" stroke="steelblue" stroke-width="1.5" points="{}"/>"#,
        points.join(" ")
    );
    // Seconds whose /healthz failed, as red marks on the time axis.
    for p in s.samples.iter().filter(|p| !p.healthy) {
        let _ = writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{}" r="3" fill="red"/>"#,
            x(p.at_s),
            h - pad
        );
    }
    let _ = writeln!(out, "</svg>");
    out
}
