//! Command lines of kube-controller-manager and kube-scheduler, parsed as pflag/cobra do:
//! `--name=value`, `--name value`, booleans as `--name` or `--name=false`, `_` normalised to `-`
//! (component-base `WordSepNormalizeFunc`); an unknown flag is an error (`Error: unknown flag: --x`,
//! exit 1). Which flags exist depends on the component and on the Kubernetes minor (e.g.
//! `--pod-eviction-timeout` was removed from kube-controller-manager in 1.27).
//!
//! Also: Go's `time.ParseDuration` ([`parse_go_duration`]), which every duration flag uses.

use std::collections::BTreeMap;
use std::time::Duration;

/// The flags one component accepts.
#[derive(Debug, Clone)]
pub struct FlagSet {
    /// The command name, for messages (`kube-controller-manager`).
    pub program: &'static str,
    /// Boolean flags.
    pub bools: Vec<&'static str>,
    /// Flags that take a value.
    pub values: Vec<&'static str>,
}

/// Parsed flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Every flag given, by name (last wins).
    pub values: BTreeMap<String, String>,
}

/// Errors parsing a command line, worded as pflag and cobra word them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// A flag the component does not have (in this version).
    #[error("unknown flag: --{0}")]
    Unknown(String),
    /// A shorthand the component does not have.
    #[error("unknown shorthand flag: '{0}' in -{0}")]
    UnknownShorthand(String),
    /// A value flag at the end without its value.
    #[error("flag needs an argument: --{0}")]
    MissingValue(String),
    /// A boolean with a non-boolean value.
    #[error(
        "invalid argument {value:?} for \"--{name}\" flag: strconv.ParseBool: parsing {value:?}: invalid syntax"
    )]
    BadBool {
        /// Flag.
        name: String,
        /// Value.
        value: String,
    },
    /// A positional argument (the components take none: cobra `Args` check of
    /// cmd/kube-controller-manager/app/controllermanager.go).
    #[error("{program:?} does not take any arguments, got [{args}]")]
    Positional {
        /// The command.
        program: String,
        /// The arguments, quoted as Go's `%q` of a slice prints them.
        args: String,
    },
    /// A value that does not parse (durations, numbers).
    #[error("invalid argument {value:?} for \"--{name}\" flag: {detail}")]
    BadValue {
        /// Flag.
        name: String,
        /// Value.
        value: String,
        /// Why.
        detail: String,
    },
}

fn parse_bool(name: &str, v: &str) -> Result<String, FlagError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok("true".into()),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok("false".into()),
        _ => Err(FlagError::BadBool {
            name: name.into(),
            value: v.into(),
        }),
    }
}

impl FlagSet {
    /// The usage text cobra prints before a flag error (component-base/cli/run.go re-enables usage
    /// for flag errors, then prints `Error: …`). labsim lists the flag names without help texts.
    pub fn usage(&self) -> String {
        let mut names: Vec<&str> = self.bools.iter().chain(&self.values).copied().collect();
        names.sort();
        names.dedup();
        let mut out = format!("Usage:\n  {} [flags]\n\nFlags:\n", self.program);
        for n in names {
            if n.len() == 1 {
                out.push_str(&format!("  -{n}\n"));
            } else {
                out.push_str(&format!("      --{n}\n"));
            }
        }
        out
    }

    /// Parses the arguments after the program name.
    ///
    /// # Errors
    /// [`FlagError`] as pflag would report it.
    pub fn parse(&self, args: &[String]) -> Result<Flags, FlagError> {
        let mut values = BTreeMap::new();
        let mut positional = vec![];
        let mut i = 0;
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if a == "--" {
                positional.extend(args[i..].iter().cloned());
                break;
            }
            let body = if let Some(b) = a.strip_prefix("--") {
                b
            } else if let Some(b) = a.strip_prefix('-').filter(|b| !b.is_empty()) {
                // klog's -v is the only shorthand of these components.
                if b == "v" || b.starts_with("v=") {
                    b
                } else {
                    return Err(FlagError::UnknownShorthand(
                        b.chars().next().unwrap_or('-').to_string(),
                    ));
                }
            } else {
                positional.push(a.clone());
                continue;
            };
            let (raw, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            // cliflag.WordSepNormalizeFunc: `_` and `-` are the same separator.
            let name = raw.replace('_', "-");
            if self.bools.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => parse_bool(&name, &v)?,
                    None => "true".into(),
                };
                values.insert(name, v);
            } else if self.values.contains(&name.as_str()) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| FlagError::MissingValue(name.clone()))?;
                        i += 1;
                        v.clone()
                    }
                };
                values.insert(name, v);
            } else {
                return Err(FlagError::Unknown(name));
            }
        }
        if positional.iter().any(|p| !p.is_empty()) {
            return Err(FlagError::Positional {
                program: self.program.into(),
                args: positional
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
        Ok(Flags { values })
    }
}

impl Flags {
    /// A flag's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A flag's value or a default.
    pub fn get_or<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.get(name).unwrap_or(default)
    }

    /// A boolean flag (default when absent).
    pub fn bool(&self, name: &str, default: bool) -> bool {
        self.get(name).map_or(default, |v| v == "true")
    }

    /// A comma-separated list flag.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// A duration flag (Go syntax), or `default`.
    ///
    /// # Errors
    /// [`FlagError::BadValue`] when the value is not a Go duration.
    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, FlagError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_go_duration(v).map_err(|detail| FlagError::BadValue {
                name: name.into(),
                value: v.into(),
                detail,
            }),
        }
    }

    /// A numeric flag, or `default`.
    ///
    /// # Errors
    /// [`FlagError::BadValue`] when the value is not a number.
    pub fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, FlagError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| FlagError::BadValue {
                name: name.into(),
                value: v.into(),
                detail: "strconv.ParseFloat: invalid syntax".into(),
            }),
        }
    }
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units `ns`, `us`/`µs`, `ms`, `s`,
/// `m`, `h` (`300ms`, `1.5h`, `2h45m`, `0`). Negative durations are refused (no flag of these
/// components takes one).
///
/// # Errors
/// Go's message, `time: invalid duration "x"`, when the text does not parse.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {s:?}");
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("time: missing unit in duration {s:?}"))?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {unit:?} in duration {s:?}")),
        };
        total += n * nanos;
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Formats a duration as Go's `time.Duration.String` does (`40s`, `5m0s`, `1h0m0s`, `500ms`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}µs", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let secs = d.as_secs();
    let frac = d.subsec_nanos();
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let s_text = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:09}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{h}h{m}m{s_text}")
    } else if m > 0 {
        format!("{m}m{s_text}")
    } else {
        s_text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> FlagSet {
        FlagSet {
            program: "kube-controller-manager",
            bools: vec!["leader-elect", "allocate-node-cidrs"],
            values: vec!["kubeconfig", "node-monitor-grace-period", "v"],
        }
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn parses_like_pflag() {
        let f = set()
            .parse(&args(
                "--kubeconfig /etc/kubernetes/controller-manager.conf --leader-elect=true --allocate_node_cidrs --node-monitor-grace-period=20s -v=2",
            ))
            .unwrap();
        assert_eq!(
            f.get("kubeconfig"),
            Some("/etc/kubernetes/controller-manager.conf")
        );
        assert!(f.bool("leader-elect", false));
        assert!(f.bool("allocate-node-cidrs", false));
        assert_eq!(
            f.duration("node-monitor-grace-period", Duration::ZERO)
                .unwrap(),
            Duration::from_secs(20)
        );
        assert_eq!(f.get("v"), Some("2"));
    }

    #[test]
    fn errors_are_worded_as_pflag_and_cobra() {
        assert_eq!(
            set()
                .parse(&args("--pod-eviction-timeout=5m0s"))
                .unwrap_err()
                .to_string(),
            "unknown flag: --pod-eviction-timeout"
        );
        assert_eq!(
            set().parse(&args("--kubeconfig")).unwrap_err().to_string(),
            "flag needs an argument: --kubeconfig"
        );
        assert_eq!(
            set().parse(&args("run")).unwrap_err().to_string(),
            "\"kube-controller-manager\" does not take any arguments, got [\"run\"]"
        );
        assert!(matches!(
            set().parse(&args("--leader-elect=yes")),
            Err(FlagError::BadBool { .. })
        ));
        let f = set()
            .parse(&args("--node-monitor-grace-period=40"))
            .unwrap();
        assert_eq!(
            f.duration("node-monitor-grace-period", Duration::ZERO)
                .unwrap_err()
                .to_string(),
            "invalid argument \"40\" for \"--node-monitor-grace-period\" flag: time: missing unit in duration \"40\""
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("40s").unwrap(), Duration::from_secs(40));
        assert_eq!(parse_go_duration("5m0s").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_go_duration("1h30m").unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap(),
            Duration::from_millis(300)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("5x").is_err());
        assert!(parse_go_duration("").is_err());
        assert_eq!(format_go_duration(Duration::from_secs(40)), "40s");
        assert_eq!(format_go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(100)), "100ms");
    }
}
