//! Command-line parsing with the rules of minikube's cobra/pflag: flags anywhere among the
//! arguments (interspersed), `--name value`, `--name=value`, `-n value`, `-nvalue`, `-n=value`,
//! grouped boolean shorthands, `--` ending the flags, and pflag's error messages
//! (`github.com/spf13/pflag/flag.go`).

use std::collections::HashMap;

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--flag` / `--flag=false`.
    Bool,
    /// A string.
    Str,
    /// An integer.
    Int,
}

/// One flag a command accepts.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// Long name, without dashes.
    pub long: &'static str,
    /// One-letter shorthand.
    pub short: Option<char>,
    /// Value kind.
    pub kind: Kind,
}

/// Shorthand for a [`Spec`].
pub const fn spec(long: &'static str, short: Option<char>, kind: Kind) -> Spec {
    Spec { long, short, kind }
}

/// A command line split into flags and positional arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    values: HashMap<&'static str, String>,
    /// Positional arguments (including everything after `--`).
    pub args: Vec<String>,
    /// Index in `args` where the arguments after `--` start (cobra's `ArgsLenAtDash`).
    pub dash_at: Option<usize>,
}

impl Parsed {
    /// The value of a string flag, if given.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.values.get(long).map(String::as_str)
    }

    /// Whether a flag was given at all.
    pub fn has(&self, long: &str) -> bool {
        self.values.contains_key(long)
    }

    /// The value of a boolean flag (false when absent).
    pub fn bool(&self, long: &str) -> bool {
        self.values.get(long).is_some_and(|v| v == "true")
    }

    /// The value of an integer flag.
    pub fn int(&self, long: &str) -> Option<i64> {
        self.values.get(long).and_then(|v| v.parse().ok())
    }
}

/// A command line that pflag rejects; the text is pflag's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FlagError(pub String);

fn parse_bool(v: &str) -> Option<bool> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn store(out: &mut Parsed, s: &Spec, name_shown: &str, value: String) -> Result<(), FlagError> {
    match s.kind {
        Kind::Bool => {
            let b = parse_bool(&value).ok_or_else(|| {
                FlagError(format!(
                    "invalid argument {value:?} for {name_shown} flag: strconv.ParseBool: parsing {value:?}: invalid syntax"
                ))
            })?;
            out.values.insert(s.long, b.to_string());
        }
        Kind::Int => {
            value.parse::<i64>().map_err(|_| {
                FlagError(format!(
                    "invalid argument {value:?} for {name_shown} flag: strconv.ParseInt: parsing {value:?}: invalid syntax"
                ))
            })?;
            out.values.insert(s.long, value);
        }
        Kind::Str => {
            out.values.insert(s.long, value);
        }
    }
    Ok(())
}

fn shown(s: &Spec) -> String {
    match s.short {
        Some(c) => format!("\"-{c}, --{}\"", s.long),
        None => format!("\"--{}\"", s.long),
    }
}

/// Parses `args` against `specs`.
///
/// # Errors
/// [`FlagError`] with pflag's message: `unknown flag: --x`, `unknown shorthand flag: 'x' in -x`,
/// `flag needs an argument: --x`, `invalid argument …`.
pub fn parse(args: &[String], specs: &[Spec]) -> Result<Parsed, FlagError> {
    let mut out = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.dash_at = Some(out.args.len());
            out.args.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let s = specs
                .iter()
                .find(|s| s.long == name)
                .ok_or_else(|| FlagError(format!("unknown flag: --{name}")))?;
            let value = match (inline, s.kind) {
                (Some(v), _) => v,
                (None, Kind::Bool) => "true".to_string(),
                (None, _) => {
                    if i >= args.len() {
                        return Err(FlagError(format!("flag needs an argument: --{name}")));
                    }
                    i += 1;
                    args[i - 1].clone()
                }
            };
            store(&mut out, s, &shown(s), value)?;
        } else if a.len() > 1 && a.starts_with('-') {
            let shorts: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < shorts.len() {
                let c = shorts[j];
                let s = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| FlagError(format!("unknown shorthand flag: '{c}' in {a}")))?;
                let rest: String = shorts[j + 1..].iter().collect();
                if s.kind == Kind::Bool {
                    if let Some(v) = rest.strip_prefix('=') {
                        store(&mut out, s, &shown(s), v.to_string())?;
                        break;
                    }
                    store(&mut out, s, &shown(s), "true".to_string())?;
                    j += 1;
                    continue;
                }
                let value = if let Some(v) = rest.strip_prefix('=') {
                    v.to_string()
                } else if !rest.is_empty() {
                    rest
                } else if i < args.len() {
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(FlagError(format!("flag needs an argument: '{c}' in -{c}")));
                };
                store(&mut out, s, &shown(s), value)?;
                break;
            }
        } else {
            out.args.push(a.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[Spec] = &[
        spec("profile", Some('p'), Kind::Str),
        spec("node", Some('n'), Kind::Str),
        spec("nodes", None, Kind::Int),
        spec("no-kubernetes", None, Kind::Bool),
        spec("all", None, Kind::Bool),
    ];

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn interspersed_flags_and_dash_dash() {
        let p = parse(
            &v(&["-p", "demo", "-n", "demo-m02", "--", "echo", "-n", "hi"]),
            SPECS,
        )
        .unwrap();
        assert_eq!(p.get("profile"), Some("demo"));
        assert_eq!(p.get("node"), Some("demo-m02"));
        assert_eq!(p.args, v(&["echo", "-n", "hi"]));
        assert_eq!(p.dash_at, Some(0));
        let p = parse(&v(&["cat", "--node=m02", "x", "-pdemo"]), SPECS).unwrap();
        assert_eq!(p.args, v(&["cat", "x"]));
        assert_eq!(p.get("profile"), Some("demo"));
        assert_eq!(p.get("node"), Some("m02"));
        let p = parse(
            &v(&["--nodes", "3", "--no-kubernetes", "--all=false"]),
            SPECS,
        )
        .unwrap();
        assert_eq!(p.int("nodes"), Some(3));
        assert!(p.bool("no-kubernetes"));
        assert!(!p.bool("all"));
        assert!(p.has("all"));
    }

    #[test]
    fn pflag_error_messages() {
        let e = |a: &[&str]| parse(&v(a), SPECS).unwrap_err().0;
        assert_eq!(e(&["--foo"]), "unknown flag: --foo");
        assert_eq!(e(&["-la"]), "unknown shorthand flag: 'l' in -la");
        assert_eq!(e(&["--profile"]), "flag needs an argument: --profile");
        assert_eq!(e(&["-p"]), "flag needs an argument: 'p' in -p");
        assert_eq!(
            e(&["--nodes", "three"]),
            "invalid argument \"three\" for \"--nodes\" flag: strconv.ParseInt: parsing \"three\": invalid syntax"
        );
        assert_eq!(
            e(&["--all=maybe"]),
            "invalid argument \"maybe\" for \"--all\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }
}
