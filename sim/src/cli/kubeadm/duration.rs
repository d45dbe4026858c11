//! Go's `time.Duration` text (`4m0s`, `24h0m0s`, `1.5s`), as kubeadm's config (metav1.Duration)
//! reads and writes it (Go `time.ParseDuration` and `Duration.String`).

use std::time::Duration;

/// Parses Go's duration syntax: a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`,
/// `s`, `m`, `h` (`1h30m`, `4m0s`, `0`). Negative durations are refused (kubeadm's fields are not).
///
/// # Errors
/// Go's message: `time: invalid duration "x"`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let s = text.trim_start_matches('+');
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
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
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            u => return Err(format!("time: unknown unit {u:?} in duration {text:?}")),
        };
        total += num * scale;
    }
    Ok(Duration::from_secs_f64(total))
}

/// Formats as Go's `Duration.String()`: `0s`, `500ms`, `1.5s`, `4m0s`, `24h0m0s`.
pub fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (v, unit) = if nanos < 1_000 {
            (nanos as f64, "ns")
        } else if nanos < 1_000_000 {
            (nanos as f64 / 1e3, "µs")
        } else {
            (nanos as f64 / 1e6, "ms")
        };
        return format!("{}{unit}", trim_float(v));
    }
    let secs_total = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let h = secs_total / 3600;
    let m = (secs_total % 3600) / 60;
    let s = secs_total % 60;
    let secs = if frac == 0 {
        format!("{s}")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms() {
        assert_eq!(parse("4m0s").unwrap(), Duration::from_secs(240));
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(parse("x").unwrap_err(), "time: invalid duration \"x\"");
        assert_eq!(format(Duration::from_secs(240)), "4m0s");
        assert_eq!(format(Duration::from_secs(86400)), "24h0m0s");
        assert_eq!(format(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format(Duration::from_millis(501)), "501ms");
        assert_eq!(format(Duration::from_secs(10)), "10s");
        assert_eq!(format(Duration::ZERO), "0s");
    }
}
