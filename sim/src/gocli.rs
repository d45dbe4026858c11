//! Go command lines, parsed as the real programs parse them, with their error messages and usage
//! texts: Go's `flag` package ([`parse_go`]: flanneld, CoreDNS) and spf13/pflag
//! ([`parse_pflag`]: podinfo, kube-proxy, and through [`FlagSet`] kube-apiserver,
//! kube-controller-manager, kube-scheduler, the kubelet and kubeadm). Each program keeps its own
//! flag table; the rules live here once:
//!
//! - pflag: `--name=value`, `--name value`, booleans alone or as `--name=false` (Go's
//!   `strconv.ParseBool`), shorthands `-s`, `-svalue`, `-s=value`, `-s value`, flags and arguments
//!   interspersed, `--` ending the flags; an undefined `--help`/`-h` is pflag's `ErrHelp`.
//! - component-base's `WordSepNormalizeFunc` ([`Pflag::normalize`]): `_` and `-` are the same in
//!   names (every Kubernetes component's `cli.Run` installs it).
//! - values are checked when given (ints, durations, booleans) with pflag's wording,
//!   `invalid argument "x" for "--name" flag: <Go's parse error>`.
//! - cobra's positional-argument errors ([`FlagError::NoArgs`], [`FlagError::UnknownCommand`]).

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

/// A boolean flag without usage text (for programs whose usage labsim prints as names only).
pub const fn bool_flag(name: &'static str) -> FlagDef {
    flag(name, Kind::Bool, "false", "")
}

/// A string flag without usage text.
pub const fn str_flag(name: &'static str) -> FlagDef {
    flag(name, Kind::Str, "", "")
}

/// klog's `-v`/`--v` (a Go flag of one letter: pflag gives it the same shorthand).
pub const KLOG_V: FlagDef = FlagDef {
    name: "v",
    short: Some('v'),
    kind: Kind::Str,
    default: "0",
    usage: "",
};

/// Flag definitions from lists of boolean and value flag names (value flags as strings; their
/// getters parse them). A one-letter name gets the same shorthand, as pflag gives Go flags.
pub fn defs_from_names(bools: &[&'static str], values: &[&'static str]) -> Vec<FlagDef> {
    let short = |n: &str| {
        let mut c = n.chars();
        match (c.next(), c.next()) {
            (Some(ch), None) => Some(ch),
            _ => None,
        }
    };
    bools
        .iter()
        .map(|n| FlagDef {
            short: short(n),
            ..bool_flag(n)
        })
        .chain(values.iter().map(|n| FlagDef {
            short: short(n),
            ..str_flag(n)
        }))
        .collect()
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
    /// pflag: a value that does not parse.
    #[error("invalid argument {value:?} for \"--{flag}\" flag: {detail}")]
    BadValue {
        /// The flag's name.
        flag: String,
        /// The value given.
        value: String,
        /// Go's parse error (`strconv.ParseBool: parsing "x": invalid syntax`, …).
        detail: String,
    },
    /// Go flag: a value that does not parse, or bad syntax (already worded as `flag` words it).
    #[error("{0}")]
    GoBadValue(String),
    /// `-h`/`--help`.
    #[error("help requested")]
    Help,
    /// cobra: arguments given to a command that takes none (the `Args` check of the Kubernetes
    /// components, e.g. cmd/kube-controller-manager/app/controllermanager.go).
    #[error("{program:?} does not take any arguments, got [{args}]")]
    NoArgs {
        /// The command.
        program: String,
        /// The arguments, quoted as Go's `%q` of a slice prints them.
        args: String,
    },
    /// cobra: an argument where a subcommand would be.
    #[error("unknown command {arg:?} for {program:?}")]
    UnknownCommand {
        /// The command.
        program: String,
        /// The argument.
        arg: String,
    },
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

    /// The flags given, each with every value it was given, by name.
    pub fn given(&self) -> impl Iterator<Item = (&'static str, &[String])> {
        self.values.iter().map(|(n, v)| (*n, v.as_slice()))
    }

    /// cobra's check of a command that takes no arguments: any non-empty positional argument is
    /// [`FlagError::NoArgs`].
    ///
    /// # Errors
    /// [`FlagError::NoArgs`].
    pub fn no_args(&self, program: &str) -> Result<(), FlagError> {
        if self.args.iter().all(String::is_empty) {
            return Ok(());
        }
        Err(FlagError::NoArgs {
            program: program.to_string(),
            args: self
                .args
                .iter()
                .map(|a| format!("{a:?}"))
                .collect::<Vec<_>>()
                .join(" "),
        })
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

/// Go's `time.ParseDuration` ([`crate::cli::gofmt::parse_go_duration`]), in seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    crate::cli::gofmt::parse_go_duration(s)
        .ok()
        .map(|d| d.as_secs_f64())
}

fn check_value(def: &FlagDef, name: &str, v: &str, go: bool) -> Result<(), FlagError> {
    let detail = match def.kind {
        Kind::Int if v.parse::<i64>().is_err() => {
            format!("strconv.ParseInt: parsing {v:?}: invalid syntax")
        }
        Kind::Duration => match crate::cli::gofmt::parse_go_duration(v) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        },
        Kind::Bool if parse_bool(v).is_none() => {
            format!("strconv.ParseBool: parsing {v:?}: invalid syntax")
        }
        _ => return Ok(()),
    };
    if go {
        return Err(FlagError::GoBadValue(if def.kind == Kind::Bool {
            format!("invalid boolean value {v:?} for -{name}: parse error")
        } else {
            format!("invalid value {v:?} for flag -{name}: parse error")
        }));
    }
    Err(FlagError::BadValue {
        flag: name.to_string(),
        value: v.to_string(),
        detail,
    })
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
            return Err(FlagError::GoBadValue(format!("bad flag syntax: {a}")));
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
        check_value(def, def.name, &v, true)?;
        record(&mut p, def, v);
        i += 1;
    }
    p.args = argv[i.min(argv.len())..].to_vec();
    Ok(p)
}

/// Parses like spf13/pflag ([`Pflag::default`]): `--name[=value]`, `-s[value]`, flags and
/// arguments interspersed, `--` ending the flags.
///
/// # Errors
/// [`FlagError`] as pflag reports it.
pub fn parse_pflag(defs: &[FlagDef], argv: &[String]) -> Result<Parsed, FlagError> {
    Pflag::default().parse(defs, argv)
}

/// pflag settings that differ between programs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pflag {
    /// component-base `cliflag.WordSepNormalizeFunc`: `_` in a flag name means `-`.
    pub normalize: bool,
}

impl Pflag {
    /// The Kubernetes components' pflag: names normalised by `WordSepNormalizeFunc`.
    pub const KUBERNETES: Pflag = Pflag { normalize: true };

    /// Parses `argv` (after the program name) against `defs`.
    ///
    /// # Errors
    /// [`FlagError`] as pflag reports it.
    pub fn parse(&self, defs: &[FlagDef], argv: &[String]) -> Result<Parsed, FlagError> {
        let mut p = new_parsed(defs);
        let mut i = 0;
        while i < argv.len() {
            let a = &argv[i];
            if a == "--" {
                p.args.extend(argv[i + 1..].iter().cloned());
                break;
            }
            if let Some(long) = a.strip_prefix("--") {
                let (raw, value) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                let name = if self.normalize {
                    raw.replace('_', "-")
                } else {
                    raw.to_string()
                };
                let Some(def) = defs.iter().find(|d| d.name == name) else {
                    if name == "help" {
                        return Err(FlagError::Help);
                    }
                    return Err(FlagError::Unknown(name));
                };
                let v = match (def.kind, value) {
                    (Kind::Bool | Kind::OptStr, None) => "true".to_string(),
                    (_, Some(v)) => v,
                    (_, None) => {
                        i += 1;
                        argv.get(i)
                            .cloned()
                            .ok_or_else(|| FlagError::MissingValue(name.clone()))?
                    }
                };
                check_value(def, &name, &v, false)?;
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
                check_value(def, def.name, &v, false)?;
                record(&mut p, def, v);
            } else {
                p.args.push(a.clone());
            }
            i += 1;
        }
        Ok(p)
    }
}

/// The usage text the Kubernetes components print before a flag error (component-base/cli/run.go
/// re-enables usage for flag errors, then prints `Error: …`); labsim lists the flag names without
/// their help texts.
pub fn names_usage(program: &str, defs: &[FlagDef]) -> String {
    let mut names: Vec<&str> = defs.iter().map(|d| d.name).collect();
    names.sort();
    names.dedup();
    let mut out = format!("Usage:\n  {program} [flags]\n\nFlags:\n");
    for n in names {
        if n.len() == 1 {
            out.push_str(&format!("  -{n}\n"));
        } else {
            out.push_str(&format!("      --{n}\n"));
        }
    }
    out
}

/// A Kubernetes component's parsed flags: the last value of each flag given (booleans as
/// `true`/`false`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// Every flag given, by name (last wins).
    pub values: BTreeMap<String, String>,
}

impl Flags {
    /// The last value of each flag of `p` (booleans normalised by `strconv.ParseBool`).
    pub fn from_parsed(p: &Parsed, defs: &[FlagDef]) -> Flags {
        let values = p
            .given()
            .filter_map(|(name, vs)| {
                let v = vs.last()?.clone();
                let is_bool = defs.iter().any(|d| d.name == name && d.kind == Kind::Bool);
                let v = match (is_bool, parse_bool(&v)) {
                    (true, Some(b)) => b.to_string(),
                    _ => v,
                };
                Some((name.to_string(), v))
            })
            .collect();
        Flags { values }
    }

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

    /// A comma-separated list flag, or `None` when absent.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// An integer flag, or `default` (also when it does not parse).
    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// A duration flag (Go syntax), or `default`.
    ///
    /// # Errors
    /// [`FlagError::BadValue`] when the value is not a Go duration.
    pub fn duration(
        &self,
        name: &str,
        default: std::time::Duration,
    ) -> Result<std::time::Duration, FlagError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => {
                crate::cli::gofmt::parse_go_duration(v).map_err(|detail| FlagError::BadValue {
                    flag: name.into(),
                    value: v.into(),
                    detail,
                })
            }
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
                flag: name.into(),
                value: v.into(),
                detail: "strconv.ParseFloat: invalid syntax".into(),
            }),
        }
    }
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
                line.push_str(&format!(
                    " (default {})",
                    crate::images::log::go_quote(d.default)
                ));
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
                usage.push_str(&format!(
                    " (default {})",
                    crate::images::log::go_quote(d.default)
                ));
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
    fn kubernetes_components_rules() {
        let defs = defs_from_names(&["leader-elect"], &["kubeconfig", "v"]);
        assert_eq!(
            defs.iter().find(|d| d.name == "v").unwrap().short,
            Some('v')
        );
        let p = Pflag::KUBERNETES
            .parse(
                &defs,
                &s(&["--leader_elect=T", "-v=2", "--kubeconfig", "k", "x", ""]),
            )
            .unwrap();
        let f = Flags::from_parsed(&p, &defs);
        assert_eq!(f.get("leader-elect"), Some("true"), "ParseBool, normalised");
        assert_eq!(f.get("v"), Some("2"));
        assert_eq!(f.get("kubeconfig"), Some("k"));
        assert_eq!(
            p.no_args("kube-scheduler").unwrap_err().to_string(),
            "\"kube-scheduler\" does not take any arguments, got [\"x\" \"\"]"
        );
        assert_eq!(
            parse_pflag(&defs, &s(&["--leader_elect"])).unwrap_err(),
            FlagError::Unknown("leader_elect".into()),
            "only the Kubernetes components normalise"
        );
        assert_eq!(
            FlagError::UnknownCommand {
                program: "kube-apiserver".into(),
                arg: "serve".into()
            }
            .to_string(),
            "unknown command \"serve\" for \"kube-apiserver\""
        );
        assert_eq!(
            parse_pflag(PF, &s(&["--server-shutdown-timeout=5"]))
                .unwrap_err()
                .to_string(),
            "invalid argument \"5\" for \"--server-shutdown-timeout\" flag: time: missing unit in duration \"5\""
        );
        assert_eq!(
            names_usage("kube-scheduler", &defs),
            "Usage:\n  kube-scheduler [flags]\n\nFlags:\n      --kubeconfig\n      --leader-elect\n  -v\n"
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
