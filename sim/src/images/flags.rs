//! Command lines parsed as the real programs parse them: Go's `flag` package (flanneld, CoreDNS)
//! and spf13/pflag (podinfo, kube-proxy), with their error messages and usage texts.

use std::collections::BTreeMap;

/// The type of a flag's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `true`/`false`; given alone it means true.
    Bool,
    /// A string.
    Str,
    /// An integer.
    Int,
    /// A Go duration (`5s`, `2m0s`).
    Duration,
    /// pflag `StringSlice` (comma-separated, repeatable).
    StrSlice,
    /// A repeatable value (Go `flag.Var` of a slice type).
    List,
    /// pflag string with `NoOptDefVal = "true"` (`--version` or `--version=raw`).
    OptStr,
}

/// One flag.
#[derive(Debug, Clone, Copy)]
pub struct FlagDef {
    /// Long name.
    pub name: &'static str,
    /// pflag shorthand.
    pub short: Option<char>,
    /// Value type.
    pub kind: Kind,
    /// Default as the program's `DefValue` prints it.
    pub default: &'static str,
    /// Usage text.
    pub usage: &'static str,
}

/// A flag definition.
pub const fn flag(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    usage: &'static str,
) -> FlagDef {
    FlagDef {
        name,
        short: None,
        kind,
        default,
        usage,
    }
}

/// Parse errors, worded as the Go libraries word them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    /// Go flag: an undefined flag.
    #[error("flag provided but not defined: -{0}")]
    GoUnknown(String),
    /// pflag: an undefined long flag.
    #[error("unknown flag: --{0}")]
    Unknown(String),
    /// pflag: an undefined shorthand.
    #[error("unknown shorthand flag: '{0}' in -{1}")]
    UnknownShorthand(char, String),
    /// A value flag without its value (Go flag wording).
    #[error("flag needs an argument: -{0}")]
    GoMissingValue(String),
    /// A value flag without its value (pflag wording).
    #[error("flag needs an argument: --{0}")]
    MissingValue(String),
    /// A value that does not parse (already worded by the parser).
    #[error("{0}")]
    BadValue(String),
    /// `-h`/`--help`.
    #[error("help requested")]
    Help,
}

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    defaults: BTreeMap<&'static str, &'static str>,
    /// Positional arguments.
    pub args: Vec<String>,
}

impl Parsed {
    /// Whether the flag was given.
    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The flag's last value, or its default.
    pub fn get(&self, name: &str) -> String {
        self.values
            .get(name)
            .and_then(|v| v.last().cloned())
            .unwrap_or_else(|| self.defaults.get(name).copied().unwrap_or("").to_string())
    }

    /// A boolean flag.
    pub fn bool(&self, name: &str) -> bool {
        parse_bool(&self.get(name)).unwrap_or(false)
    }

    /// Every value given to a repeatable flag (slices split on commas).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// Sets a value unless the flag was given (environment overlays: `FLANNELD_*`, `PODINFO_*`).
    pub fn set_default(&mut self, name: &'static str, value: String) {
        self.values.entry(name).or_insert_with(|| vec![value]);
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration` for the units flags use (`ns`…`h`), in seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    if s == "0" {
        return Some(0.0);
    }
    let mut total = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter(|&i| i > 0)?;
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * mult;
        rest = &rest[u..];
    }
    Some(total)
}

fn check_value(def: &FlagDef, v: &str, go: bool) -> Result<(), FlagError> {
    let dash = if go { "-" } else { "--" };
    match def.kind {
        Kind::Int if v.parse::<i64>().is_err() => Err(FlagError::BadValue(if go {
            format!("invalid value {v:?} for flag -{}: parse error", def.name)
        } else {
            format!(
                "invalid argument {v:?} for \"{dash}{}\" flag: strconv.ParseInt: parsing {v:?}: invalid syntax",
                def.name
            )
        })),
        Kind::Duration if parse_duration(v).is_none() => Err(FlagError::BadValue(if go {
            format!("invalid value {v:?} for flag -{}: parse error", def.name)
        } else {
            format!(
                "invalid argument {v:?} for \"{dash}{}\" flag: time: invalid duration {}",
                def.name,
                super::log::go_quote(v)
            )
        })),
        Kind::Bool if parse_bool(v).is_none() => Err(FlagError::BadValue(if go {
            format!("invalid boolean value {v:?} for -{}: parse error", def.name)
        } else {
            format!(
                "invalid argument {v:?} for \"{dash}{}\" flag: strconv.ParseBool: parsing {v:?}: invalid syntax",
                def.name
            )
        })),
        _ => Ok(()),
    }
}

fn record(p: &mut Parsed, def: &FlagDef, v: String) {
    let entry = p.values.entry(def.name).or_default();
    match def.kind {
        Kind::StrSlice => entry.extend(v.split(',').map(str::to_string)),
        Kind::List => entry.push(v),
        _ => {
            entry.clear();
            entry.push(v);
        }
    }
}

fn new_parsed(defs: &[FlagDef]) -> Parsed {
    Parsed {
        defaults: defs.iter().map(|d| (d.name, d.default)).collect(),
        ..Default::default()
    }
}

/// Parses like Go's `flag.FlagSet.Parse`: `-x`/`--x`, `=value` or the next argument for non-bool
/// flags, stopping at the first non-flag argument or `--`.
///
/// # Errors
/// [`FlagError`] as the `flag` package reports it.
pub fn parse_go(defs: &[FlagDef], argv: &[String]) -> Result<Parsed, FlagError> {
    let mut p = new_parsed(defs);
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a.len() < 2 || !a.starts_with('-') {
            break;
        }
        let mut name = &a[1..];
        if let Some(n) = name.strip_prefix('-') {
            if n.is_empty() {
                i += 1;
                break;
            }
            name = n;
        }
        if name.starts_with('-') || name.starts_with('=') {
            return Err(FlagError::BadValue(format!("bad flag syntax: {a}")));
        }
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (name, None),
        };
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            if name == "help" || name == "h" {
                return Err(FlagError::Help);
            }
            return Err(FlagError::GoUnknown(name.to_string()));
        };
        let v = match (def.kind, value) {
            (Kind::Bool, None) => "true".to_string(),
            (_, Some(v)) => v,
            (_, None) => {
                i += 1;
                argv.get(i)
                    .cloned()
                    .ok_or_else(|| FlagError::GoMissingValue(name.to_string()))?
            }
        };
        check_value(def, &v, true)?;
        record(&mut p, def, v);
        i += 1;
    }
    p.args = argv[i.min(argv.len())..].to_vec();
    Ok(p)
}

/// Parses like spf13/pflag: `--name[=value]`, `-s[value]`, flags and arguments interspersed,
/// `--` ending the flags.
///
/// # Errors
/// [`FlagError`] as pflag reports it.
pub fn parse_pflag(defs: &[FlagDef], argv: &[String]) -> Result<Parsed, FlagError> {
    let mut p = new_parsed(defs);
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            p.args.extend(argv[i + 1..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let Some(def) = defs.iter().find(|d| d.name == name) else {
                if name == "help" {
                    return Err(FlagError::Help);
                }
                return Err(FlagError::Unknown(name.to_string()));
            };
            let v = match (def.kind, value) {
                (Kind::Bool | Kind::OptStr, None) => "true".to_string(),
                (_, Some(v)) => v,
                (_, None) => {
                    i += 1;
                    argv.get(i)
                        .cloned()
                        .ok_or_else(|| FlagError::MissingValue(name.to_string()))?
                }
            };
            check_value(def, &v, false)?;
            record(&mut p, def, v);
        } else if a.len() > 1 && a.starts_with('-') {
            let shorts = &a[1..];
            let c = shorts.chars().next().expect("non-empty");
            let Some(def) = defs.iter().find(|d| d.short == Some(c)) else {
                if c == 'h' {
                    return Err(FlagError::Help);
                }
                return Err(FlagError::UnknownShorthand(c, shorts.to_string()));
            };
            let rest = &shorts[c.len_utf8()..];
            let v = match def.kind {
                Kind::Bool => rest.strip_prefix('=').unwrap_or("true").to_string(),
                _ if !rest.is_empty() => rest.strip_prefix('=').unwrap_or(rest).to_string(),
                _ => {
                    i += 1;
                    argv.get(i)
                        .cloned()
                        .ok_or_else(|| FlagError::MissingValue(def.name.to_string()))?
                }
            };
            check_value(def, &v, false)?;
            record(&mut p, def, v);
        } else {
            p.args.push(a.clone());
        }
        i += 1;
    }
    Ok(p)
}

fn is_zero(def: &FlagDef) -> bool {
    matches!(def.default, "" | "false" | "0" | "0s" | "[]")
}

/// Go's `FlagSet.PrintDefaults` text.
pub fn go_usage(defs: &[FlagDef]) -> String {
    let mut sorted: Vec<&FlagDef> = defs.iter().collect();
    sorted.sort_by_key(|d| d.name);
    let mut out = String::new();
    for d in sorted {
        let mut line = format!("  -{}", d.name);
        let ty = match d.kind {
            Kind::Bool => "",
            Kind::Str => "string",
            Kind::Int => "int",
            Kind::Duration => "duration",
            Kind::StrSlice | Kind::List | Kind::OptStr => "value",
        };
        if !ty.is_empty() {
            line.push(' ');
            line.push_str(ty);
        }
        if line.len() <= 4 {
            line.push('\t');
        } else {
            line.push_str("\n    \t");
        }
        line.push_str(&d.usage.replace('\n', "\n    \t"));
        if !is_zero(d) {
            if d.kind == Kind::Str {
                line.push_str(&format!(" (default {})", super::log::go_quote(d.default)));
            } else {
                line.push_str(&format!(" (default {})", d.default));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// pflag's `FlagUsages` text (flags sorted, usage column aligned).
pub fn pflag_usage(defs: &[FlagDef]) -> String {
    let mut sorted: Vec<&FlagDef> = defs.iter().collect();
    sorted.sort_by_key(|d| d.name);
    let mut lines = vec![];
    let mut max = 0;
    for d in &sorted {
        let mut line = match d.short {
            Some(s) => format!("  -{s}, --{}", d.name),
            None => format!("      --{}", d.name),
        };
        let ty = match d.kind {
            Kind::Bool => "",
            Kind::Str => "string",
            Kind::Int => "int",
            Kind::Duration => "duration",
            Kind::StrSlice => "strings",
            Kind::List => "stringArray",
            Kind::OptStr => "version[=true]",
        };
        if !ty.is_empty() {
            line.push(' ');
            line.push_str(ty);
        }
        max = max.max(line.len());
        let mut usage = d.usage.to_string();
        if !is_zero(d) {
            if d.kind == Kind::Str {
                usage.push_str(&format!(" (default {})", super::log::go_quote(d.default)));
            } else {
                usage.push_str(&format!(" (default {})", d.default));
            }
        }
        lines.push((line, usage));
    }
    let mut out = String::new();
    for (line, usage) in lines {
        let pad = " ".repeat(max - line.len());
        out.push_str(&format!("{line} {pad}  {usage}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const GO: &[FlagDef] = &[
        flag("ip-masq", Kind::Bool, "false", "setup IP masquerade"),
        flag(
            "kube-subnet-mgr",
            Kind::Bool,
            "false",
            "contact the Kubernetes API",
        ),
        flag(
            "subnet-file",
            Kind::Str,
            "/run/flannel/subnet.env",
            "filename",
        ),
        flag("healthz-port", Kind::Int, "0", "the port"),
        flag("iface", Kind::List, "[]", "interface"),
    ];

    #[test]
    fn go_flag_parsing() {
        let p = parse_go(
            GO,
            &s(&[
                "--ip-masq",
                "--kube-subnet-mgr",
                "-iface=eth0",
                "-iface",
                "eth1",
            ]),
        )
        .unwrap();
        assert!(p.bool("ip-masq"));
        assert!(p.bool("kube-subnet-mgr"));
        assert_eq!(p.get("subnet-file"), "/run/flannel/subnet.env");
        assert_eq!(p.list("iface"), s(&["eth0", "eth1"]));
        let p = parse_go(GO, &s(&["-ip-masq=false", "x", "--kube-subnet-mgr"])).unwrap();
        assert!(!p.bool("ip-masq"));
        assert_eq!(
            p.args,
            s(&["x", "--kube-subnet-mgr"]),
            "stops at the first argument"
        );
        assert_eq!(
            parse_go(GO, &s(&["--nope"])).unwrap_err().to_string(),
            "flag provided but not defined: -nope"
        );
        assert_eq!(
            parse_go(GO, &s(&["--healthz-port"]))
                .unwrap_err()
                .to_string(),
            "flag needs an argument: -healthz-port"
        );
        assert_eq!(
            parse_go(GO, &s(&["--healthz-port=x"]))
                .unwrap_err()
                .to_string(),
            "invalid value \"x\" for flag -healthz-port: parse error"
        );
        assert_eq!(parse_go(GO, &s(&["-h"])), Err(FlagError::Help));
    }

    #[test]
    fn go_usage_text() {
        assert_eq!(
            go_usage(GO),
            "  -healthz-port int\n    \tthe port\n  -iface value\n    \tinterface\n  -ip-masq\n    \tsetup IP masquerade\n  -kube-subnet-mgr\n    \tcontact the Kubernetes API\n  -subnet-file string\n    \tfilename (default \"/run/flannel/subnet.env\")\n"
        );
    }

    const PF: &[FlagDef] = &[
        flag("port", Kind::Int, "9898", "HTTP port to bind service to"),
        flag("level", Kind::Str, "info", "log level"),
        flag("backend-url", Kind::StrSlice, "[]", "backend service URL"),
        flag("h2c", Kind::Bool, "false", "allow upgrading to H2C"),
        flag("server-shutdown-timeout", Kind::Duration, "5s", "timeout"),
        FlagDef {
            name: "version",
            short: Some('v'),
            kind: Kind::Bool,
            default: "false",
            usage: "get version number",
        },
    ];

    #[test]
    fn pflag_parsing() {
        let p = parse_pflag(
            PF,
            &s(&[
                "--port=9999",
                "arg",
                "--level",
                "debug",
                "-v",
                "--backend-url=a,b",
            ]),
        )
        .unwrap();
        assert_eq!(p.get("port"), "9999");
        assert_eq!(p.get("level"), "debug");
        assert!(p.bool("version"));
        assert_eq!(p.list("backend-url"), s(&["a", "b"]));
        assert_eq!(p.args, s(&["arg"]));
        assert_eq!(
            parse_pflag(PF, &s(&["--nope"])).unwrap_err().to_string(),
            "unknown flag: --nope"
        );
        assert_eq!(
            parse_pflag(PF, &s(&["-x"])).unwrap_err().to_string(),
            "unknown shorthand flag: 'x' in -x"
        );
        assert_eq!(
            parse_pflag(PF, &s(&["--port=abc"]))
                .unwrap_err()
                .to_string(),
            "invalid argument \"abc\" for \"--port\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            parse_pflag(PF, &s(&["--level"])).unwrap_err().to_string(),
            "flag needs an argument: --level"
        );
        assert_eq!(parse_pflag(PF, &s(&["--help"])), Err(FlagError::Help));
    }

    #[test]
    fn pflag_usage_text() {
        assert_eq!(
            pflag_usage(PF),
            "      --backend-url strings                backend service URL\n      --h2c                                allow upgrading to H2C\n      --level string                       log level (default \"info\")\n      --port int                           HTTP port to bind service to (default 9898)\n      --server-shutdown-timeout duration   timeout (default 5s)\n  -v, --version                            get version number\n"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(5.0));
        assert_eq!(parse_duration("2m0s"), Some(120.0));
        assert_eq!(parse_duration("1h30m"), Some(5400.0));
        assert_eq!(parse_duration("500ms"), Some(0.5));
        assert_eq!(parse_duration("0"), Some(0.0));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration(""), None);
    }
}
