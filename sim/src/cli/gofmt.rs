//! Go's formatting as the real node tools print it: `text/tabwriter` tables, go-units human
//! durations and sizes, `time.Duration.String()` and `time.ParseDuration` (every component's
//! duration flags and config fields), and `encoding/json` indentation with object keys in a chosen
//! order.

use std::fmt::Write as _;

/// Go's `text/tabwriter` with padding character `' '` and no flags: cells are tab-terminated; the
/// text after a line's last tab is not part of a column. A column's width is the widest cell of
/// its block of consecutive lines (plus `padding`), at least `minwidth`.
#[derive(Debug, Clone)]
pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    text: String,
}

impl TabWriter {
    /// A writer like `tabwriter.NewWriter(w, minwidth, tabwidth, padding, ' ', 0)` (`tabwidth`
    /// only matters for tab padding, which these tools do not use).
    pub fn new(minwidth: usize, padding: usize) -> TabWriter {
        TabWriter {
            minwidth,
            padding,
            text: String::new(),
        }
    }

    /// Appends text (cells separated by `\t`, lines by `\n`).
    pub fn write(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// The formatted text.
    pub fn flush(&self) -> String {
        let mut lines: Vec<Vec<&str>> = self
            .text
            .split('\n')
            .map(|l| l.split('\t').collect())
            .collect();
        // A trailing newline leaves an empty last line that is not printed.
        let ends_with_newline = self.text.ends_with('\n');
        if ends_with_newline {
            lines.pop();
        }
        let mut out = String::new();
        let mut widths: Vec<usize> = vec![];
        self.format(&lines, 0, lines.len(), &mut widths, &mut out);
        if !ends_with_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    fn format(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                let w = lines[this][column].chars().count() + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.format(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        line0: usize,
        line1: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for line in &lines[line0..line1] {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() {
                    let pad = widths[j].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
    }
}

/// go-units `HumanDuration` (what crictl prints before " ago").
pub fn human_duration(secs_f: f64) -> String {
    let seconds = secs_f as i64;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = (secs_f / 60.0) as i64;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (secs_f / 3600.0 + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", (secs_f / 3600.0) as i64 / 24 / 365)
}

/// Go's `%.*g` (shortest representation with at most `prec` significant digits, no exponent for
/// the magnitudes used here).
fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let exp = v.abs().log10().floor() as i32;
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// go-units `HumanSizeWithPrecision(size, 3)`: decimal units `B kB MB GB …` (crictl images).
pub fn human_size(size: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(v, 3), units[i])
}

/// containerd's `progress.Bytes` (binary units, one decimal: `17.2 MiB`; ctr images list).
pub fn bytes_binary(size: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = size as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{size} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// Go's `time.Duration.String()` (`1.5s`, `123.456789ms`, `2m3.5s`).
pub fn go_duration(nanos: u128) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let frac = |v: u128, unit: u128| -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.to_string().len() - 1;
            let f = format!("{rest:0digits$}");
            format!("{whole}.{}", f.trim_end_matches('0'))
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", frac(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", frac(nanos, 1_000_000));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = total_secs % 60;
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{}s", frac(s * 1_000_000_000 + sub, 1_000_000_000));
    out
}

/// [`go_duration`] of a [`std::time::Duration`] (`40s`, `5m0s`, `1h0m0s`, `501ms`, `1.5s`).
pub fn format_go_duration(d: std::time::Duration) -> String {
    go_duration(d.as_nanos())
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers, each with a unit `ns`, `us`/`µs`,
/// `ms`, `s`, `m`, `h` (`300ms`, `1.5h`, `2h45m`, `0`, `+5s`). Negative durations are refused: no
/// flag or field labsim reads takes one, and [`std::time::Duration`] cannot hold them.
///
/// # Errors
/// Go's messages (`time/format.go`): `time: invalid duration "x"`, `time: missing unit in
/// duration "10"`, `time: unknown unit "x" in duration "5x"`.
pub fn parse_go_duration(text: &str) -> Result<std::time::Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let s = text.strip_prefix('+').unwrap_or(text);
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(invalid());
    }
    let mut nanos = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 || rest[..num_len] == *"." {
            return Err(invalid());
        }
        let num: f64 = rest[..num_len].parse().map_err(|_| invalid())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {text:?}")),
        };
        nanos += num * scale;
    }
    Ok(std::time::Duration::from_nanos(nanos.round() as u64))
}

/// A JSON value whose object keys keep the order they were given in (Go structs and protojson
/// print fields in declaration order).
#[derive(Debug, Clone, PartialEq)]
pub enum J {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, already formatted.
    Num(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<J>),
    /// An object, keys in order.
    Obj(Vec<(String, J)>),
}

impl J {
    /// A string value.
    pub fn s(v: impl Into<String>) -> J {
        J::Str(v.into())
    }

    /// A number value.
    pub fn n(v: impl std::fmt::Display) -> J {
        J::Num(v.to_string())
    }

    /// An object from pairs.
    pub fn obj(pairs: Vec<(&str, J)>) -> J {
        J::Obj(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    /// From a `serde_json::Value` (objects in serde_json's order, which is sorted).
    pub fn from_value(v: &serde_json::Value) -> J {
        match v {
            serde_json::Value::Null => J::Null,
            serde_json::Value::Bool(b) => J::Bool(*b),
            serde_json::Value::Number(n) => J::Num(n.to_string()),
            serde_json::Value::String(s) => J::Str(s.clone()),
            serde_json::Value::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            serde_json::Value::Object(o) => J::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), J::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// The same value with every object's keys sorted (Go maps marshal sorted).
    pub fn sorted(self) -> J {
        match self {
            J::Arr(a) => J::Arr(a.into_iter().map(J::sorted).collect()),
            J::Obj(mut o) => {
                o.sort_by(|a, b| a.0.cmp(&b.0));
                J::Obj(o.into_iter().map(|(k, v)| (k, v.sorted())).collect())
            }
            other => other,
        }
    }

    /// `json.MarshalIndent(v, "", "  ")`.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let ind = |n: usize| "  ".repeat(n);
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => out.push_str(&go_json_string(s)),
            J::Arr(a) if a.is_empty() => out.push_str("[]"),
            J::Obj(o) if o.is_empty() => out.push_str("{}"),
            J::Arr(a) => {
                out.push_str("[\n");
                for (i, v) in a.iter().enumerate() {
                    out.push_str(&ind(depth + 1));
                    v.write(out, depth + 1);
                    if i + 1 < a.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&ind(depth));
                out.push(']');
            }
            J::Obj(o) => {
                out.push_str("{\n");
                for (i, (k, v)) in o.iter().enumerate() {
                    out.push_str(&ind(depth + 1));
                    out.push_str(&go_json_string(k));
                    out.push_str(": ");
                    v.write(out, depth + 1);
                    if i + 1 < o.len() {
                        out.push(',');
                    }
                    out.push('\n');
                }
                out.push_str(&ind(depth));
                out.push('}');
            }
        }
    }
}

/// A JSON string as Go's `encoding/json` writes it (HTML-escaping `<`, `>`, `&`; U+2028 and U+2029
/// escaped too).
pub fn go_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_and_print_as_go_does() {
        use std::time::Duration;
        let p = parse_go_duration;
        assert_eq!(p("40s").unwrap(), Duration::from_secs(40));
        assert_eq!(p("4m0s").unwrap(), Duration::from_secs(240));
        assert_eq!(p("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(p("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(p("300ms").unwrap(), Duration::from_millis(300));
        assert_eq!(p("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(p("+5s").unwrap(), Duration::from_secs(5));
        assert_eq!(p("0").unwrap(), Duration::ZERO);
        assert_eq!(
            p("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            p("5x").unwrap_err(),
            "time: unknown unit \"x\" in duration \"5x\""
        );
        assert_eq!(p("x").unwrap_err(), "time: invalid duration \"x\"");
        assert_eq!(p("").unwrap_err(), "time: invalid duration \"\"");
        assert_eq!(p("-5s").unwrap_err(), "time: invalid duration \"-5s\"");
        let f = format_go_duration;
        assert_eq!(f(Duration::from_secs(40)), "40s");
        assert_eq!(f(Duration::from_secs(240)), "4m0s");
        assert_eq!(f(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(f(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(f(Duration::from_millis(1500)), "1.5s");
        assert_eq!(f(Duration::from_millis(501)), "501ms");
        assert_eq!(f(Duration::from_millis(100)), "100ms");
        assert_eq!(f(Duration::from_nanos(502_284_696)), "502.284696ms");
        assert_eq!(f(Duration::ZERO), "0s");
    }

    #[test]
    fn tabwriter_matches_go() {
        // crictl: minwidth 20, padding 3; the last cell of a line is not padded.
        let mut w = TabWriter::new(20, 3);
        w.write("CONTAINER\tIMAGE\tNAME\n");
        w.write("abc\tsha\tkube-apiserver-long-name\n");
        assert_eq!(
            w.flush(),
            "CONTAINER           IMAGE               NAME\nabc                 sha                 kube-apiserver-long-name\n"
        );
        // ctr: minwidth 4, padding 4, rows end with a tab: every column padded.
        let mut w = TabWriter::new(4, 4);
        w.write("TASK\tPID\tSTATUS\t\n");
        w.write("0123456789\t42\tRUNNING\t\n");
        assert_eq!(
            w.flush(),
            "TASK          PID    STATUS     \n0123456789    42     RUNNING    \n"
        );
        // Column blocks: a line with fewer cells ends the block.
        let mut w = TabWriter::new(0, 1);
        w.write("a\tb\nlonger\n\nx\ty\n");
        assert_eq!(w.flush(), "a b\nlonger\n\nx y\n");
    }

    #[test]
    fn go_units() {
        assert_eq!(human_duration(0.4), "Less than a second");
        assert_eq!(human_duration(1.2), "1 second");
        assert_eq!(human_duration(59.9), "59 seconds");
        assert_eq!(human_duration(61.0), "About a minute");
        assert_eq!(human_duration(150.0), "2 minutes");
        assert_eq!(human_duration(3600.0 * 1.4), "About an hour");
        assert_eq!(human_duration(3600.0 * 5.0), "5 hours");
        assert_eq!(human_duration(3600.0 * 72.0), "3 days");
        assert_eq!(human_duration(3600.0 * 24.0 * 20.0), "2 weeks");
        assert_eq!(human_size(18_045_872), "18MB");
        assert_eq!(human_size(321_520), "322kB");
        assert_eq!(human_size(30_112_528), "30.1MB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(57_680_541), "57.7MB");
        assert_eq!(bytes_binary(18_045_872), "17.2 MiB");
        assert_eq!(bytes_binary(512), "512 B");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(123_456_789), "123.456789ms");
        assert_eq!(go_duration(2_385_373_207), "2.385373207s");
        assert_eq!(go_duration(123_500_000_000), "2m3.5s");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
    }

    #[test]
    fn ordered_json() {
        let j = J::obj(vec![
            ("status", J::obj(vec![("id", J::s("x")), ("a", J::n(1))])),
            (
                "info",
                J::obj(vec![("pid", J::n(7)), ("e", J::Arr(vec![]))]),
            ),
        ]);
        assert_eq!(
            j.pretty(),
            "{\n  \"status\": {\n    \"id\": \"x\",\n    \"a\": 1\n  },\n  \"info\": {\n    \"pid\": 7,\n    \"e\": []\n  }\n}"
        );
        assert!(j.sorted().pretty().starts_with("{\n  \"info\""));
        assert_eq!(go_json_string("a<b>&"), "\"a\\u003cb\\u003e\\u0026\"");
    }
}
