//! The log formats of the real programs, so that `kubectl logs` and `crictl logs` show what they
//! would show on a real cluster. Times are UTC (containers run in UTC). Processes log as PID 1, as
//! they are in their own PID namespace on a real node.
//!
//! - klog (flanneld, kube-proxy): `I0310 03:35:25.123456       1 main.go:211] msg`, with
//!   structured values as `"msg" key="value"` (k8s.io/klog/v2 `formatHeader`, `InfoS`).
//! - zap JSON (podinfo): `{"level":"info","ts":"…Z","caller":"…","msg":"…",…}` with podinfo's
//!   encoder (ISO8601 times, lowercase levels; cmd/podinfo/main.go `initZap`).
//! - zerolog console (traefik v3): `2025-03-10T03:35:25Z INF msg key=value`, with ANSI colours
//!   unless `--log.nocolor` (traefik cmd/traefik/logger.go; rs/zerolog console.go).
//! - logrus text (traefik v2): `time="…" level=info msg="…" key=value`.

use std::io::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A log severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Debug.
    Debug,
    /// Info.
    Info,
    /// Warning.
    Warn,
    /// Error.
    Error,
    /// Fatal.
    Fatal,
}

fn civil(ts: Timestamp) -> jiff::civil::DateTime {
    ts.to_zoned(TimeZone::UTC).datetime()
}

/// The klog header: `Lmmdd hh:mm:ss.uuuuuu` + PID right-aligned in 7 + ` file:line] `.
pub fn klog_header(level: Level, ts: Timestamp, at: &str) -> String {
    let c = civil(ts);
    let l = match level {
        Level::Debug | Level::Info => 'I',
        Level::Warn => 'W',
        Level::Error => 'E',
        Level::Fatal => 'F',
    };
    format!(
        "{l}{:02}{:02} {:02}:{:02}:{:02}.{:06} {:>7} {at}] ",
        c.month(),
        c.day(),
        c.hour(),
        c.minute(),
        c.second(),
        c.subsec_nanosecond() / 1000,
        1
    )
}

/// A klog value in a structured line.
#[derive(Debug, Clone)]
pub enum Val {
    /// Printed quoted (`%q`).
    Str(String),
    /// Printed as is (numbers, booleans, lists already formatted).
    Raw(String),
}

/// Go's `strconv.Quote` for the ASCII/UTF-8 text labsim logs.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A klog line (`klog.Infof` style).
pub fn klog_line(level: Level, ts: Timestamp, at: &str, msg: &str) -> String {
    format!("{}{msg}", klog_header(level, ts, at))
}

/// A structured klog line (`klog.InfoS` style): `"msg" key="value" key=value`.
pub fn klog_s_line(level: Level, ts: Timestamp, at: &str, msg: &str, kv: &[(&str, Val)]) -> String {
    let mut line = format!("{}{}", klog_header(level, ts, at), go_quote(msg));
    for (k, v) in kv {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        match v {
            Val::Str(s) => line.push_str(&go_quote(s)),
            Val::Raw(s) => line.push_str(s),
        }
    }
    line
}

/// Writes a line to stderr (klog's and zap's stream).
pub fn stderr(line: &str) {
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{line}");
    let _ = e.flush();
}

/// Writes a line to stdout.
pub fn stdout(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = writeln!(o, "{line}");
    let _ = o.flush();
}

/// `klog.Infof`-style line to stderr.
pub fn klog(level: Level, at: &str, msg: &str) {
    stderr(&klog_line(level, Timestamp::now(), at, msg));
}

/// `klog.InfoS`-style line to stderr.
pub fn klog_s(level: Level, at: &str, msg: &str, kv: &[(&str, Val)]) {
    stderr(&klog_s_line(level, Timestamp::now(), at, msg, kv));
}

/// zap's ISO8601 encoder: `2006-01-02T15:04:05.000Z0700` in UTC.
pub fn iso8601_millis(ts: Timestamp) -> String {
    let c = civil(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year(),
        c.month(),
        c.day(),
        c.hour(),
        c.minute(),
        c.second(),
        c.subsec_nanosecond() / 1_000_000
    )
}

/// RFC 3339 to the second in UTC (`2025-03-10T03:35:25Z`).
pub fn rfc3339_seconds(ts: Timestamp) -> String {
    let c = civil(ts);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year(),
        c.month(),
        c.day(),
        c.hour(),
        c.minute(),
        c.second()
    )
}

/// A zap JSON line as podinfo writes it: level, ts, caller, msg, then the fields in order.
pub fn zap_line(
    level: Level,
    ts: Timestamp,
    caller: &str,
    msg: &str,
    fields: &[(&str, serde_json::Value)],
) -> String {
    let l = match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
        Level::Fatal => "fatal",
    };
    let q = |s: &str| serde_json::to_string(s).expect("string encodes");
    let mut line = format!(
        "{{\"level\":\"{l}\",\"ts\":\"{}\",\"caller\":{},\"msg\":{}",
        iso8601_millis(ts),
        q(caller),
        q(msg)
    );
    for (k, v) in fields {
        line.push_str(&format!(",{}:{}", q(k), v));
    }
    line.push('}');
    line
}

/// zerolog's `needsQuote`: control characters, non-ASCII, space, backslash or quote.
fn zerolog_needs_quote(s: &str) -> bool {
    s.bytes()
        .any(|b| !(0x20..=0x7e).contains(&b) || b == b' ' || b == b'\\' || b == b'"')
}

fn colorize(s: &str, code: u8, no_color: bool) -> String {
    if no_color || code == 0 {
        s.to_string()
    } else {
        format!("\x1b[{code}m{s}\x1b[0m")
    }
}

/// A zerolog console line as traefik v3 writes it: time, level, message, then the fields sorted
/// by name (`error` in red and bold).
pub fn zerolog_line(
    level: Level,
    ts: Timestamp,
    msg: &str,
    fields: &[(&str, String)],
    no_color: bool,
) -> String {
    let (lvl, color) = match level {
        Level::Debug => ("DBG", 0),
        Level::Info => ("INF", 32),
        Level::Warn => ("WRN", 33),
        Level::Error => ("ERR", 31),
        Level::Fatal => ("FTL", 31),
    };
    let mut parts = vec![
        colorize(&rfc3339_seconds(ts), 90, no_color),
        colorize(lvl, color, no_color),
    ];
    if !msg.is_empty() {
        let bold = if level == Level::Debug { 0 } else { 1 };
        parts.push(colorize(msg, bold, no_color));
    }
    let mut sorted: Vec<&(&str, String)> = fields.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in sorted {
        let value = if zerolog_needs_quote(v) {
            go_quote(v)
        } else {
            v.clone()
        };
        let value = if *k == "error" {
            colorize(&colorize(&value, 1, no_color), 31, no_color)
        } else {
            value
        };
        parts.push(format!(
            "{}{value}",
            colorize(&format!("{k}="), 36, no_color)
        ));
    }
    parts.join(" ")
}

/// logrus' `needsQuoting`: anything outside letters, digits and `-._/@^+`.
fn logrus_needs_quote(s: &str) -> bool {
    s.is_empty()
        || s.chars().any(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/' | '@' | '^' | '+'))
        })
}

/// A logrus text line as traefik v2 writes it.
pub fn logrus_line(level: Level, ts: Timestamp, msg: &str, fields: &[(&str, String)]) -> String {
    let l = match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warning",
        Level::Error => "error",
        Level::Fatal => "fatal",
    };
    let v = |s: &str| {
        if logrus_needs_quote(s) {
            go_quote(s)
        } else {
            s.to_string()
        }
    };
    let mut line = format!(
        "time={} level={l} msg={}",
        go_quote(&rfc3339_seconds(ts)),
        v(msg)
    );
    let mut sorted: Vec<&(&str, String)> = fields.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (k, val) in sorted {
        line.push_str(&format!(" {k}={}", v(val)));
    }
    line
}

/// Go's `time.Time.String()` for a wall-clock time (what kube-proxy's healthz prints):
/// `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time_string(ts: Timestamp) -> String {
    let c = civil(ts);
    let nanos = c.subsec_nanosecond();
    let frac = if nanos == 0 {
        String::new()
    } else {
        let f = format!(".{nanos:09}");
        f.trim_end_matches('0').to_string()
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
        c.year(),
        c.month(),
        c.day(),
        c.hour(),
        c.minute(),
        c.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> Timestamp {
        "2023-03-10T03:35:25.698123456Z".parse().unwrap()
    }

    #[test]
    fn klog_lines() {
        assert_eq!(
            klog_line(Level::Info, t(), "main.go:211", "CLI flags config: {}"),
            "I0310 03:35:25.698123       1 main.go:211] CLI flags config: {}"
        );
        assert_eq!(
            klog_line(Level::Warn, t(), "client_config.go:618", "x"),
            "W0310 03:35:25.698123       1 client_config.go:618] x"
        );
        assert_eq!(
            klog_s_line(
                Level::Info,
                t(),
                "server.go:698",
                "Successfully retrieved node IP(s)",
                &[("IPs", Val::Raw("[\"192.168.49.2\"]".into()))]
            ),
            "I0310 03:35:25.698123       1 server.go:698] \"Successfully retrieved node IP(s)\" IPs=[\"192.168.49.2\"]"
        );
        assert_eq!(
            klog_s_line(
                Level::Error,
                t(),
                "x.go:1",
                "m",
                &[("err", Val::Str("a \"b\"".into()))]
            ),
            "E0310 03:35:25.698123       1 x.go:1] \"m\" err=\"a \\\"b\\\"\""
        );
    }

    #[test]
    fn zap_lines_are_podinfo_json() {
        let l = zap_line(
            Level::Info,
            t(),
            "http/server.go:224",
            "Starting HTTP Server.",
            &[("addr", serde_json::json!(":9898"))],
        );
        assert_eq!(
            l,
            r#"{"level":"info","ts":"2023-03-10T03:35:25.698Z","caller":"http/server.go:224","msg":"Starting HTTP Server.","addr":":9898"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["addr"], ":9898");
    }

    #[test]
    fn zerolog_and_logrus_lines() {
        assert_eq!(
            zerolog_line(
                Level::Info,
                t(),
                "Creating in-cluster Provider client",
                &[("providerName", "kubernetes".into())],
                true
            ),
            "2023-03-10T03:35:25Z INF Creating in-cluster Provider client providerName=kubernetes"
        );
        assert_eq!(
            zerolog_line(
                Level::Error,
                t(),
                "Skipping service: no endpoints found",
                &[
                    ("serviceName", "hello".into()),
                    ("ingress", "hello".into()),
                    ("namespace", "default".into())
                ],
                true
            ),
            "2023-03-10T03:35:25Z ERR Skipping service: no endpoints found ingress=hello namespace=default serviceName=hello"
        );
        assert_eq!(
            zerolog_line(
                Level::Info,
                t(),
                "Traefik",
                &[("version", "3.3.4".into())],
                false
            ),
            "\x1b[90m2023-03-10T03:35:25Z\x1b[0m \x1b[32mINF\x1b[0m \x1b[1mTraefik\x1b[0m \x1b[36mversion=\x1b[0m3.3.4"
        );
        assert_eq!(
            zerolog_line(Level::Info, t(), "x", &[("label", "a b".into())], true),
            "2023-03-10T03:35:25Z INF x label=\"a b\""
        );
        assert_eq!(
            logrus_line(
                Level::Info,
                t(),
                "Creating in-cluster Provider client",
                &[("providerName", "kubernetes".into())]
            ),
            "time=\"2023-03-10T03:35:25Z\" level=info msg=\"Creating in-cluster Provider client\" providerName=kubernetes"
        );
    }

    #[test]
    fn go_time_strings() {
        assert_eq!(
            go_time_string(t()),
            "2023-03-10 03:35:25.698123456 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2023-03-10T03:35:25Z".parse().unwrap()),
            "2023-03-10 03:35:25 +0000 UTC"
        );
    }
}
