//! `journalctl` on a node: `-u UNIT`, `-n N`, `-f`, `--since`, `--until`, `-b`, `-q`, `-o
//! short|cat`, `--no-pager`, `--no-hostname`, with systemd 252's output (`src/journal/journalctl.c`,
//! `src/shared/logs-show.c`): journald's short format, `-- Boot <id> --` between boots, no
//! "-- Journal begins at" header (systemd ≥ 250), `-- No entries --` when nothing matches. Error texts
//! were checked against the host's journalctl 252.

use std::io::Write;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;

use crate::node::journal::{Entry, Output, Query, format_listing};
use crate::node::proto::{Client, Request, Response};
use crate::node::unit::unit_name;

/// A parsed `journalctl` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// `-u` units.
    pub units: Vec<String>,
    /// `-n` (`None`: all; `-f` alone means 10).
    pub lines: Option<usize>,
    /// `-f`.
    pub follow: bool,
    /// `--since` as typed.
    pub since: Option<String>,
    /// `--until` as typed.
    pub until: Option<String>,
    /// `-b [ID|±N]` (`Some("0")` for the current boot).
    pub boot: Option<String>,
    /// `-q`.
    pub quiet: bool,
    /// `-o`.
    pub output: Output,
    /// `--no-hostname`.
    pub no_hostname: bool,
}

fn need_arg(
    args: &[String],
    i: &mut usize,
    inline: Option<String>,
    opt: &str,
) -> Result<String, String> {
    if let Some(v) = inline {
        return Ok(v);
    }
    if *i < args.len() {
        *i += 1;
        return Ok(args[*i - 1].clone());
    }
    Err(if opt.len() == 1 {
        format!("journalctl: option requires an argument -- '{opt}'")
    } else {
        format!("journalctl: option '--{opt}' requires an argument")
    })
}

fn parse_lines(v: &str) -> Result<usize, String> {
    v.strip_prefix('+')
        .unwrap_or(v)
        .parse()
        .map_err(|_| format!("Failed to parse lines '{v}'"))
}

/// `-n`/`--lines` take an optional argument: attached, or the next argument when that is a
/// number (journalctl.c `parse_lines(optarg ?: argv[optind], !optarg)`); default 10.
fn optional_lines(args: &[String], i: &mut usize, inline: Option<String>) -> Result<usize, String> {
    if let Some(v) = inline {
        return parse_lines(&v);
    }
    if let Some(next) = args.get(*i)
        && let Ok(n) = parse_lines(next)
    {
        *i += 1;
        return Ok(n);
    }
    Ok(10)
}

fn looks_like_boot(v: &str) -> bool {
    v.parse::<i64>().is_ok() || (v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Parses journalctl's arguments.
///
/// # Errors
/// journalctl's message for a bad command line (exit code 1).
pub fn parse(args: &[String]) -> Result<Invocation, String> {
    let mut inv = Invocation {
        units: Vec::new(),
        lines: None,
        follow: false,
        since: None,
        until: None,
        boot: None,
        quiet: false,
        output: Output::Short,
        no_hostname: false,
    };
    let mut i = 0;
    let set_output = |inv: &mut Invocation, v: &str| -> Result<(), String> {
        inv.output = match v {
            "short" => Output::Short,
            "cat" => Output::Cat,
            "short-iso" | "short-precise" | "short-monotonic" | "short-unix" | "short-full"
            | "short-iso-precise" | "short-delta" | "verbose" | "export" | "json"
            | "json-pretty" | "json-sse" | "json-seq" | "with-unit" => {
                return Err(format!(
                    "labsim's journalctl prints -o short and -o cat only, not -o {v}"
                ));
            }
            _ => return Err(format!("Unknown output format '{v}'.")),
        };
        Ok(())
    };
    while i < args.len() {
        let a = args[i].clone();
        i += 1;
        if let Some(long) = a.strip_prefix("--") {
            if long.is_empty() {
                if i < args.len() {
                    return Err(format!(
                        "Failed to add match '{}': Invalid argument",
                        args[i]
                    ));
                }
                break;
            }
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match name {
                "unit" => inv.units.push(need_arg(args, &mut i, inline, "unit")?),
                "lines" => inv.lines = Some(optional_lines(args, &mut i, inline)?),
                "follow" => inv.follow = true,
                "since" => inv.since = Some(need_arg(args, &mut i, inline, "since")?),
                "until" => inv.until = Some(need_arg(args, &mut i, inline, "until")?),
                "boot" => {
                    inv.boot = Some(match inline {
                        Some(v) => v,
                        None if i < args.len() && looks_like_boot(&args[i]) => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        None => "0".into(),
                    })
                }
                "quiet" => inv.quiet = true,
                "output" => {
                    let v = need_arg(args, &mut i, inline, "output")?;
                    set_output(&mut inv, &v)?;
                }
                "no-hostname" => inv.no_hostname = true,
                "no-pager" | "pager-end" | "catalog" | "no-tail" | "full" | "all" | "merge"
                | "system" => {}
                _ => return Err(format!("journalctl: unrecognized option '--{name}'")),
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let rest: String = chars[j + 1..].iter().collect();
                let inline = (!rest.is_empty()).then(|| rest.clone());
                match chars[j] {
                    'f' => inv.follow = true,
                    'q' => inv.quiet = true,
                    'e' => {
                        if inv.lines.is_none() {
                            inv.lines = Some(1000);
                        }
                    }
                    'x' | 'a' | 'l' | 'm' => {}
                    'n' => {
                        inv.lines = Some(optional_lines(args, &mut i, inline)?);
                        break;
                    }
                    'b' => {
                        inv.boot = Some(match inline {
                            Some(v) => v,
                            None if i < args.len() && looks_like_boot(&args[i]) => {
                                i += 1;
                                args[i - 1].clone()
                            }
                            None => "0".into(),
                        });
                        break;
                    }
                    c @ ('u' | 'S' | 'U' | 'o') => {
                        let v = need_arg(args, &mut i, inline, &c.to_string())?;
                        match c {
                            'u' => inv.units.push(v),
                            'S' => inv.since = Some(v),
                            'U' => inv.until = Some(v),
                            _ => set_output(&mut inv, &v)?,
                        }
                        break;
                    }
                    c => return Err(format!("journalctl: invalid option -- '{c}'")),
                }
                j += 1;
            }
            continue;
        }
        return Err(format!("Failed to add match '{a}': Invalid argument"));
    }
    Ok(inv)
}

/// Parses a timestamp as systemd.time(7) describes (`2024-11-28 04:38:54`, `2024-11-28`,
/// `04:38`, `today`, `yesterday`, `now`, `-5min`, `+1h`, `5 min ago`, `@1700000000`), in `tz`.
///
/// # Errors
/// `Failed to parse timestamp: <text>`.
pub fn parse_timestamp(s: &str, now: Timestamp, tz: &TimeZone) -> Result<Timestamp, String> {
    let err = || format!("Failed to parse timestamp: {s}");
    let t = s.trim();
    let today = now.to_zoned(tz.clone()).date();
    let at_midnight = |d: Date| {
        d.to_datetime(Time::midnight())
            .to_zoned(tz.clone())
            .map(|z| z.timestamp())
            .map_err(|_| err())
    };
    match t {
        "now" => return Ok(now),
        "today" => return at_midnight(today),
        "yesterday" => return at_midnight(today.yesterday().map_err(|_| err())?),
        "tomorrow" => return at_midnight(today.tomorrow().map_err(|_| err())?),
        _ => {}
    }
    if let Some(epoch) = t.strip_prefix('@') {
        let secs: f64 = epoch.parse().map_err(|_| err())?;
        return Timestamp::from_microsecond((secs * 1e6) as i64).map_err(|_| err());
    }
    let relative = |span: &str| -> Result<i64, String> {
        let d = crate::node::unit::parse_timespan(span).map_err(|_| err())?;
        i64::try_from(d.as_micros()).map_err(|_| err())
    };
    if let Some(ago) = t.strip_suffix(" ago").or_else(|| t.strip_suffix("ago")) {
        return Timestamp::from_microsecond(now.as_microsecond() - relative(ago)?)
            .map_err(|_| err());
    }
    if let Some(back) = t.strip_prefix('-') {
        return Timestamp::from_microsecond(now.as_microsecond() - relative(back)?)
            .map_err(|_| err());
    }
    if let Some(fwd) = t.strip_prefix('+') {
        return Timestamp::from_microsecond(now.as_microsecond() + relative(fwd)?)
            .map_err(|_| err());
    }
    let civil = if let Ok(dt) = DateTime::strptime("%Y-%m-%d %H:%M:%S", t) {
        dt
    } else if let Ok(dt) = DateTime::strptime("%Y-%m-%d %H:%M", t) {
        dt
    } else if let Ok(d) = Date::strptime("%Y-%m-%d", t) {
        d.to_datetime(Time::midnight())
    } else if let Ok(tm) = Time::strptime("%H:%M:%S", t) {
        today.to_datetime(tm)
    } else if let Ok(tm) = Time::strptime("%H:%M", t) {
        today.to_datetime(tm)
    } else {
        return Err(err());
    };
    civil
        .to_zoned(tz.clone())
        .map(|z| z.timestamp())
        .map_err(|_| err())
}

/// The text journalctl prints (on stderr) for a user who may not read the system journal.
pub const RESTRICTED_HINT: &str =
    "Hint: You are currently not seeing messages from other users and the system.
      Users in groups 'adm', 'systemd-journal' can see all messages.
      Pass -q to turn off this notice.
";

/// Formats one batch of entries and remembers the last boot shown.
pub fn render_entries(
    inv: &Invocation,
    entries: &[Entry],
    previous_boot: &mut Option<String>,
    tz: &TimeZone,
) -> String {
    let mut s = String::new();
    for l in format_listing(
        entries,
        previous_boot,
        tz,
        inv.output,
        inv.quiet,
        !inv.no_hostname,
    ) {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// Entry point; returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let inv = match parse(args) {
        Ok(i) => i,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let tz = TimeZone::system();
    let now = Timestamp::now();
    let mut query = Query {
        units: inv.units.iter().map(|u| unit_name(u)).collect(),
        ..Query::default()
    };
    for (text, slot) in [
        (&inv.since, &mut query.since_us),
        (&inv.until, &mut query.until_us),
    ] {
        if let Some(t) = text {
            match parse_timestamp(t, now, &tz) {
                Ok(ts) => *slot = Some(ts.as_microsecond()),
                Err(msg) => {
                    eprintln!("{msg}");
                    return 1;
                }
            }
        }
    }
    query.lines = match (inv.lines, inv.follow) {
        (Some(n), _) => Some(n),
        (None, true) => Some(10),
        (None, false) => None,
    };
    let sock = match super::agent_socket("journalctl") {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    // -b: the boots in the journal, oldest first, name the one asked for.
    if let Some(b) = &inv.boot {
        match resolve_boot(&sock, b) {
            Ok(id) => query.boot = Some(id),
            Err(msg) => {
                eprintln!("{msg}");
                return 1;
            }
        }
    }
    let mut client = match Client::connect(&sock) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("journalctl: {e}");
            return 1;
        }
    };
    if let Err(e) = client.send(&Request::Journal {
        query,
        follow: inv.follow,
    }) {
        eprintln!("journalctl: {e}");
        return 1;
    }
    let mut stdout = std::io::stdout().lock();
    let mut previous_boot = None;
    let mut shown = 0usize;
    loop {
        match client.recv() {
            Ok(Response::Entry { entry }) => {
                shown += 1;
                let text = render_entries(&inv, &[entry], &mut previous_boot, &tz);
                if stdout.write_all(text.as_bytes()).is_err() {
                    return 0;
                }
                if inv.follow {
                    let _ = stdout.flush();
                }
            }
            Ok(Response::End { restricted }) => {
                if restricted && !inv.quiet {
                    eprint!("{RESTRICTED_HINT}");
                }
                if shown == 0 && !inv.quiet && !inv.follow {
                    let _ = writeln!(stdout, "-- No entries --");
                }
                return 0;
            }
            Ok(other) => {
                eprintln!("journalctl: unexpected answer from the node agent: {other:?}");
                return 1;
            }
            Err(crate::node::proto::ProtoError::Closed) if inv.follow => return 0,
            Err(e) => {
                eprintln!("journalctl: {e}");
                return 1;
            }
        }
    }
}

fn resolve_boot(sock: &std::path::Path, spec: &str) -> Result<String, String> {
    if spec.len() == 32 && spec.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(spec.to_lowercase());
    }
    let offset: i64 = spec
        .parse()
        .map_err(|_| format!("Failed to parse boot descriptor '{spec}'"))?;
    let mut c = Client::connect(sock).map_err(|e| format!("journalctl: {e}"))?;
    c.send(&Request::Journal {
        query: Query::default(),
        follow: false,
    })
    .map_err(|e| format!("journalctl: {e}"))?;
    let mut boots: Vec<String> = Vec::new();
    loop {
        match c.recv() {
            Ok(Response::Entry { entry }) => {
                if boots.last() != Some(&entry.boot) && !boots.contains(&entry.boot) {
                    boots.push(entry.boot);
                }
            }
            Ok(Response::End { .. }) => break,
            Ok(_) => break,
            Err(e) => return Err(format!("journalctl: {e}")),
        }
    }
    let idx = if offset <= 0 {
        boots.len() as i64 - 1 + offset
    } else {
        offset - 1
    };
    usize::try_from(idx)
        .ok()
        .and_then(|i| boots.get(i).cloned())
        .ok_or_else(|| {
            let shown = if offset > 0 { format!("+{offset}") } else { offset.to_string() };
            format!("Data from the specified boot ({shown}) is not available: No such boot ID in journal")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_and_errors_as_journalctl_252() {
        assert_eq!(
            parse(&v(&["-u", "kubelet", "-n", "5"])).unwrap().lines,
            Some(5)
        );
        assert_eq!(parse(&v(&["--lines", "+7"])).unwrap().lines, Some(7));
        assert_eq!(parse(&v(&["-n"])).unwrap().lines, Some(10));
        // A next argument that is no number is not taken: it is a match.
        assert_eq!(
            parse(&v(&["-n", "x"])).unwrap_err(),
            "Failed to add match 'x': Invalid argument"
        );
        let i = parse(&v(&["-u", "kubelet", "--no-pager", "-n5", "-f"])).unwrap();
        assert_eq!(i.units, v(&["kubelet"]));
        assert_eq!(i.lines, Some(5));
        assert!(i.follow);
        let i = parse(&v(&[
            "--unit=a",
            "-ub",
            "--lines=3",
            "-q",
            "--since",
            "today",
        ]))
        .unwrap();
        assert_eq!(i.units, v(&["a", "b"]));
        assert_eq!(i.lines, Some(3));
        assert_eq!(i.since.as_deref(), Some("today"));
        assert!(i.quiet);
        assert_eq!(parse(&v(&["-b"])).unwrap().boot.as_deref(), Some("0"));
        assert_eq!(
            parse(&v(&["-b", "-1"])).unwrap().boot.as_deref(),
            Some("-1")
        );
        assert_eq!(
            parse(&v(&["--foo"])).unwrap_err(),
            "journalctl: unrecognized option '--foo'"
        );
        assert_eq!(
            parse(&v(&["-u"])).unwrap_err(),
            "journalctl: option requires an argument -- 'u'"
        );
        assert_eq!(
            parse(&v(&["--lines=x"])).unwrap_err(),
            "Failed to parse lines 'x'"
        );
        assert_eq!(
            parse(&v(&["-o", "foo"])).unwrap_err(),
            "Unknown output format 'foo'."
        );
        assert_eq!(
            parse(&v(&["extra"])).unwrap_err(),
            "Failed to add match 'extra': Invalid argument"
        );
    }

    #[test]
    fn timestamps() {
        let tz = TimeZone::UTC;
        let now: Timestamp = "2024-11-28T04:38:54Z".parse().unwrap();
        let p = |s: &str| parse_timestamp(s, now, &tz).unwrap().to_string();
        assert_eq!(p("2024-11-27 10:00:00"), "2024-11-27T10:00:00Z");
        assert_eq!(p("2024-11-27"), "2024-11-27T00:00:00Z");
        assert_eq!(p("today"), "2024-11-28T00:00:00Z");
        assert_eq!(p("yesterday"), "2024-11-27T00:00:00Z");
        assert_eq!(p("04:00"), "2024-11-28T04:00:00Z");
        assert_eq!(p("-5min"), "2024-11-28T04:33:54Z");
        assert_eq!(p("1h ago"), "2024-11-28T03:38:54Z");
        assert_eq!(p("@1732768734"), "2024-11-28T04:38:54Z");
        assert_eq!(
            parse_timestamp("garbage", now, &tz).unwrap_err(),
            "Failed to parse timestamp: garbage"
        );
    }
}
