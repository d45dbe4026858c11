//! Reading systemd service units: unit files, drop-ins, command lines, environment files and time
//! spans, with systemd's own rules (systemd.unit(5), systemd.service(5), systemd.exec(5),
//! systemd.time(7); parsing in systemd `src/shared/conf-parser.c`, `src/core/load-fragment.c`,
//! `src/basic/env-file.c`, `src/basic/time-util.c`).
//!
//! What labsim's systemd understands: `[Unit]` `Description`, `Documentation`; `[Service]`
//! `Type` (simple/exec/notify behave as simple), `ExecStart`, `Environment`, `EnvironmentFile`,
//! `WorkingDirectory`, `Restart`, `RestartSec`, `KillSignal`, `KillMode`, `TimeoutStopSec`,
//! `SyslogIdentifier`, `StartLimitIntervalSec`/`StartLimitBurst` (also in `[Unit]`);
//! `[Install]` `WantedBy`, `RequiredBy`. Other settings are kept and ignored, as systemd ignores
//! settings it does not act on for a unit; unknown sections and keys are reported as warnings the
//! way systemd logs "Unknown key name".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A unit file or a setting in it that cannot be used.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum UnitError {
    /// No unit file with that name.
    #[error("Unit {0} not found.")]
    NotFound(String),
    /// The unit file cannot be read.
    #[error("cannot read {path}: {message}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A setting makes the unit unusable (systemd's `bad-setting` load state).
    #[error("{unit}: {message}")]
    BadSetting {
        /// The unit.
        unit: String,
        /// systemd's explanation, e.g. "Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing."
        message: String,
    },
    /// A unit name labsim's systemd does not handle (only `.service` units exist here).
    #[error("Unit {0} not found: labsim's systemd manages .service units only")]
    UnsupportedType(String),
}

/// Completes a unit name the way systemctl does: `kubelet` → `kubelet.service`.
pub fn unit_name(name: &str) -> String {
    let known = [
        ".service",
        ".socket",
        ".target",
        ".timer",
        ".mount",
        ".path",
        ".slice",
        ".scope",
        ".device",
        ".swap",
        ".automount",
    ];
    if known.iter().any(|s| name.ends_with(s)) {
        name.to_string()
    } else {
        format!("{name}.service")
    }
}

/// The sections of a unit file, in order, each with its `key=value` assignments in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IniFile {
    /// `(section, [(key, value)])`.
    pub sections: Vec<(String, Vec<(String, String)>)>,
}

impl IniFile {
    /// Parses systemd's ini dialect: `#`/`;` comments, `[Section]` headers, `Key=Value` lines
    /// (whitespace around the `=` ignored), lines continued with a trailing backslash.
    pub fn parse(text: &str) -> IniFile {
        let mut file = IniFile::default();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim_end();
            if pending.is_empty() {
                let t = line.trim_start();
                if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                    continue;
                }
            } else if line.trim_start().starts_with('#') || line.trim_start().starts_with(';') {
                // Comment lines inside a continuation are skipped (conf-parser.c).
                continue;
            }
            if let Some(stripped) = line.strip_suffix('\\') {
                pending.push_str(stripped);
                pending.push(' ');
                continue;
            }
            pending.push_str(line);
            let full = std::mem::take(&mut pending);
            let t = full.trim();
            if t.starts_with('[') && t.ends_with(']') {
                file.sections
                    .push((t[1..t.len() - 1].to_string(), Vec::new()));
                continue;
            }
            if let Some((k, v)) = t.split_once('=') {
                if file.sections.is_empty() {
                    file.sections.push((String::new(), Vec::new()));
                }
                let section = file.sections.last_mut().expect("a section");
                section.1.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        file
    }
}

/// When a service is restarted after its main process exits (`Restart=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// `no` (the default).
    No,
    /// `always`.
    Always,
    /// `on-success`: exit code 0 (or a clean signal).
    OnSuccess,
    /// `on-failure`: non-zero exit, unclean signal, timeout.
    OnFailure,
    /// `on-abnormal`: unclean signal or timeout.
    OnAbnormal,
    /// `on-abort`: unclean signal.
    OnAbort,
}

impl RestartPolicy {
    fn parse(v: &str) -> Option<RestartPolicy> {
        Some(match v {
            "no" => RestartPolicy::No,
            "always" => RestartPolicy::Always,
            "on-success" => RestartPolicy::OnSuccess,
            "on-failure" => RestartPolicy::OnFailure,
            "on-abnormal" => RestartPolicy::OnAbnormal,
            "on-abort" => RestartPolicy::OnAbort,
            // on-watchdog needs a watchdog, which labsim's units do not have.
            "on-watchdog" => RestartPolicy::No,
            _ => return None,
        })
    }

    /// Whether a main process that ended this way is restarted (systemd.service(5), table 2).
    /// `clean` is an exit with status 0 or death by SIGHUP/SIGINT/SIGTERM/SIGPIPE.
    pub fn restarts(self, exited_with: Option<i32>, signal: Option<i32>) -> bool {
        let clean_signal = signal.is_some_and(|s| [1, 2, 13, 15].contains(&s));
        let clean = exited_with == Some(0) || clean_signal;
        let unclean_signal = signal.is_some() && !clean_signal;
        match self {
            RestartPolicy::No => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnSuccess => clean,
            RestartPolicy::OnFailure => !clean,
            RestartPolicy::OnAbnormal | RestartPolicy::OnAbort => unclean_signal,
        }
    }
}

/// One word of an `ExecStart=` command line, before environment expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A word as written (after unquoting), in which `${VAR}` and `$VAR` are substituted.
    Text(String),
    /// A word that is exactly an unquoted `$VAR`: replaced by the value split at whitespace (zero
    /// or more words).
    Split(String),
}

/// A parsed `ExecStart=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCommand {
    /// The line as written (shown by `systemctl status` as `ExecStart=…`).
    pub raw: String,
    /// `-` prefix: a failing exit status is not a failure.
    pub ignore_failure: bool,
    /// The executable's path (first word, after prefixes).
    pub path: String,
    /// `argv` (the first word is `argv[0]`; with the `@` prefix it differs from `path`).
    pub argv: Vec<Word>,
}

/// Splits a command line or an `Environment=` value into words with systemd's quoting: double and
/// single quotes, backslash escapes (C-style inside and outside quotes). Unquoted words that are
/// exactly `$NAME` are marked for splitting.
pub fn split_words(s: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '"' | '\'' => {
                    quoted = true;
                    loop {
                        match chars.next() {
                            None => return Err(format!("unbalanced quoting in {s:?}")),
                            Some(q) if q == c => break,
                            Some('\\') if c == '"' => word.push(unescape(&mut chars)?),
                            Some(x) => word.push(x),
                        }
                    }
                }
                '\\' => word.push(unescape(&mut chars)?),
                _ => word.push(c),
            }
        }
        let is_var = !quoted
            && word.len() > 1
            && word.starts_with('$')
            && word[1..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        words.push(if is_var {
            Word::Split(word[1..].to_string())
        } else {
            Word::Text(word)
        });
    }
    Ok(words)
}

fn unescape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, String> {
    Ok(match chars.next() {
        None => return Err("trailing backslash".into()),
        Some('n') => '\n',
        Some('t') => '\t',
        Some('r') => '\r',
        Some('a') => '\x07',
        Some('b') => '\x08',
        Some('f') => '\x0c',
        Some('v') => '\x0b',
        Some('s') => ' ',
        Some(c) => c,
    })
}

/// Substitutes `${NAME}` and `$NAME` in `s` from `env` (unknown names become empty).
pub fn substitute(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{')
            && let Some(end) = body.find('}')
        {
            out.push_str(env.get(&body[..end]).map(String::as_str).unwrap_or(""));
            rest = &body[end + 1..];
            continue;
        }
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if len == 0 {
            out.push('$');
            rest = after;
        } else {
            out.push_str(env.get(&after[..len]).map(String::as_str).unwrap_or(""));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

impl ExecCommand {
    /// Parses an `ExecStart=` value (prefixes `-`, `@`, `:`, `+`, `!`, `!!` accepted).
    pub fn parse(raw: &str) -> Result<ExecCommand, String> {
        let words = split_words(raw)?;
        let Some(Word::Text(first)) = words.first() else {
            return Err(format!("Executable path is not absolute, ignoring: {raw}"));
        };
        let mut ignore_failure = false;
        let mut at = false;
        let mut path = first.as_str();
        while let Some(c) = path.chars().next() {
            match c {
                '-' => ignore_failure = true,
                '@' => at = true,
                ':' | '+' | '!' => {}
                _ => break,
            }
            path = &path[1..];
        }
        if !path.starts_with('/') {
            return Err(format!(
                "Neither a valid executable name nor an absolute path: {path}"
            ));
        }
        let mut argv: Vec<Word> = words[1..].to_vec();
        if !at {
            argv.insert(0, Word::Text(path.to_string()));
        }
        Ok(ExecCommand {
            raw: raw.to_string(),
            ignore_failure,
            path: path.to_string(),
            argv,
        })
    }

    /// `argv` with the environment substituted (systemd.service(5), "Command lines").
    pub fn expand(&self, env: &BTreeMap<String, String>) -> Vec<String> {
        let mut out = Vec::new();
        for w in &self.argv {
            match w {
                Word::Text(t) => out.push(substitute(t, env)),
                Word::Split(name) => out.extend(
                    env.get(name)
                        .map(|v| v.split_whitespace().map(String::from).collect::<Vec<_>>())
                        .unwrap_or_default(),
                ),
            }
        }
        out
    }
}

/// Parses the assignments of one `Environment=` value.
pub fn parse_environment(v: &str) -> Result<Vec<(String, String)>, String> {
    split_words(v)?
        .into_iter()
        .map(|w| {
            let t = match w {
                Word::Text(t) => t,
                Word::Split(n) => format!("${n}"),
            };
            t.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("Invalid environment assignment, ignoring: {t}"))
        })
        .collect()
}

/// Parses an environment file (`EnvironmentFile=`): `KEY=VALUE` lines, `#`/`;` comments, values
/// in double quotes (with backslash escapes) or single quotes, unquoted values trimmed, a trailing
/// backslash continuing the line (systemd `src/basic/env-file.c`).
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let key = k.trim().to_string();
        let mut v = v.trim_start().to_string();
        let value = if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let mut val = String::new();
            let mut body: String = v[1..].to_string();
            'outer: loop {
                let mut chars = body.chars();
                while let Some(c) = chars.next() {
                    if c == q {
                        break 'outer;
                    }
                    if c == '\\' && q == '"' {
                        match chars.next() {
                            Some(n) => val.push(n),
                            None => {
                                // Escaped newline: continue on the next line.
                                match lines.next() {
                                    Some(next) => {
                                        body = next.to_string();
                                        continue 'outer;
                                    }
                                    None => break 'outer,
                                }
                            }
                        }
                    } else {
                        val.push(c);
                    }
                }
                match lines.next() {
                    Some(next) => {
                        val.push('\n');
                        body = next.to_string();
                    }
                    None => break,
                }
            }
            val
        } else {
            while v.ends_with('\\') {
                v.pop();
                match lines.next() {
                    Some(next) => v.push_str(next.trim()),
                    None => break,
                }
            }
            v.trim_end().to_string()
        };
        out.push((key, value));
    }
    out
}

/// Parses a systemd time span (`10`, `10s`, `100ms`, `1min 30s`, `2h`, `infinity`).
pub fn parse_timespan(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "infinity" {
        return Ok(Duration::MAX);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty time span".into());
    }
    while !rest.is_empty() {
        rest = rest.trim_start();
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(format!("Failed to parse time span '{s}'"));
        }
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("Failed to parse time span '{s}'"))?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let secs = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "ms" | "msec" => 1e-3,
            "us" | "usec" | "µs" => 1e-6,
            "ns" | "nsec" => 1e-9,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "week" | "weeks" => 604800.0,
            _ => return Err(format!("Failed to parse time span '{s}'")),
        };
        total += Duration::from_secs_f64(n * secs);
    }
    Ok(total)
}

/// A loaded service unit.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// `kubelet.service`.
    pub name: String,
    /// The unit file.
    pub fragment_path: PathBuf,
    /// Drop-in files, in the order applied.
    pub dropins: Vec<PathBuf>,
    /// `Description=` (defaults to the unit name).
    pub description: String,
    /// `Documentation=` URLs.
    pub documentation: Vec<String>,
    /// The effective `ExecStart=`.
    pub exec_start: ExecCommand,
    /// `Environment=` assignments, in order.
    pub environment: Vec<(String, String)>,
    /// `EnvironmentFile=` paths and whether they are optional (`-` prefix).
    pub environment_files: Vec<(PathBuf, bool)>,
    /// `WorkingDirectory=`.
    pub working_directory: Option<PathBuf>,
    /// `Restart=`.
    pub restart: RestartPolicy,
    /// `RestartSec=` (default 100 ms).
    pub restart_sec: Duration,
    /// `KillSignal=` as a signal number (default SIGTERM).
    pub kill_signal: i32,
    /// `KillMode=process` (only the main process is signalled) instead of `control-group`.
    pub kill_main_only: bool,
    /// `TimeoutStopSec=` (default 90 s, `DefaultTimeoutStopSec`).
    pub timeout_stop: Duration,
    /// `SyslogIdentifier=`, else the executable's file name.
    pub syslog_identifier: String,
    /// `StartLimitIntervalSec=` (default 10 s).
    pub start_limit_interval: Duration,
    /// `StartLimitBurst=` (default 5).
    pub start_limit_burst: u32,
    /// `WantedBy=`.
    pub wanted_by: Vec<String>,
    /// `RequiredBy=`.
    pub required_by: Vec<String>,
    /// Settings labsim does not know (systemd logs "Unknown key name … ignoring").
    pub warnings: Vec<String>,
}

impl ServiceConfig {
    /// Whether the unit has an `[Install]` section that `systemctl enable` can act on.
    pub fn installable(&self) -> bool {
        !self.wanted_by.is_empty() || !self.required_by.is_empty()
    }
}

/// The files of a unit: its fragment and drop-ins, with their modification times, so a change on
/// disk can be noticed (systemctl's "changed on disk" warning).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSources {
    /// The unit file.
    pub fragment: PathBuf,
    /// `<unit>.d/*.conf`, sorted by file name.
    pub dropins: Vec<PathBuf>,
    /// Paths with their mtimes (the fingerprint).
    pub fingerprint: Vec<(PathBuf, Option<SystemTime>)>,
}

/// Finds a unit's files in `unit_dir`.
///
/// # Errors
/// [`UnitError::NotFound`] when there is no unit file.
pub fn find_sources(unit_dir: &Path, name: &str) -> Result<UnitSources, UnitError> {
    let fragment = unit_dir.join(name);
    if !fragment.is_file() {
        return Err(UnitError::NotFound(name.to_string()));
    }
    let mut dropins: Vec<PathBuf> = std::fs::read_dir(unit_dir.join(format!("{name}.d")))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
                .collect()
        })
        .unwrap_or_default();
    dropins.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut fingerprint = vec![(fragment.clone(), mtime(&fragment))];
    fingerprint.extend(dropins.iter().map(|d| (d.clone(), mtime(d))));
    fingerprint.push((
        unit_dir.join(format!("{name}.d")),
        mtime(&unit_dir.join(format!("{name}.d"))),
    ));
    Ok(UnitSources {
        fragment,
        dropins,
        fingerprint,
    })
}

fn signal_number(v: &str) -> Option<i32> {
    let name = v.trim().trim_start_matches("SIG");
    if let Ok(n) = name.parse() {
        return Some(n);
    }
    Some(match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "TERM" => 15,
        "CONT" => 18,
        "STOP" => 19,
        "WINCH" => 28,
        _ => return None,
    })
}

/// Loads service `name` from `unit_dir` (fragment, then drop-ins in file-name order; an empty
/// `ExecStart=` in a drop-in resets the list, as kubeadm's `10-kubeadm.conf` does).
///
/// # Errors
/// [`UnitError`] when the unit is missing, unreadable or unusable.
pub fn load_service(
    unit_dir: &Path,
    name: &str,
) -> Result<(ServiceConfig, UnitSources), UnitError> {
    if !name.ends_with(".service") {
        return Err(UnitError::UnsupportedType(name.to_string()));
    }
    let sources = find_sources(unit_dir, name)?;
    let mut files = vec![sources.fragment.clone()];
    files.extend(sources.dropins.iter().cloned());
    let bad = |message: String| UnitError::BadSetting {
        unit: name.to_string(),
        message,
    };
    let mut description = None;
    let mut documentation = Vec::new();
    let mut exec_start: Vec<String> = Vec::new();
    let mut environment = Vec::new();
    let mut environment_files = Vec::new();
    let mut working_directory = None;
    let mut restart = RestartPolicy::No;
    let mut restart_sec = Duration::from_millis(100);
    let mut kill_signal = 15;
    let mut kill_main_only = false;
    let mut timeout_stop = Duration::from_secs(90);
    let mut syslog_identifier = None;
    let mut start_limit_interval = Duration::from_secs(10);
    let mut start_limit_burst = 5;
    let mut wanted_by = Vec::new();
    let mut required_by = Vec::new();
    let mut warnings = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|e| UnitError::Unreadable {
            path: file.clone(),
            message: e.to_string(),
        })?;
        for (section, entries) in IniFile::parse(&text).sections {
            for (key, value) in entries {
                let at = || format!("{}: {key}={value}", file.display());
                match (section.as_str(), key.as_str()) {
                    ("Unit", "Description") => description = Some(value),
                    ("Unit", "Documentation") => {
                        if value.is_empty() {
                            documentation.clear();
                        } else {
                            documentation.extend(value.split_whitespace().map(String::from));
                        }
                    }
                    ("Unit" | "Service", "StartLimitIntervalSec" | "StartLimitInterval") => {
                        start_limit_interval = parse_timespan(&value).map_err(bad)?
                    }
                    ("Unit" | "Service", "StartLimitBurst") => {
                        start_limit_burst = value
                            .parse()
                            .map_err(|_| bad(format!("Invalid StartLimitBurst: {value}")))?
                    }
                    ("Unit", _) => {}
                    ("Service", "ExecStart") => {
                        if value.is_empty() {
                            exec_start.clear();
                        } else {
                            exec_start.push(value);
                        }
                    }
                    ("Service", "Type") => match value.as_str() {
                        "simple" | "exec" | "notify" | "notify-reload" | "idle" => {}
                        other => warnings.push(format!(
                            "{}: Type={other} runs as Type=simple on labsim",
                            at()
                        )),
                    },
                    ("Service", "Environment") => {
                        if value.is_empty() {
                            environment.clear();
                        } else {
                            environment.extend(parse_environment(&value).map_err(bad)?);
                        }
                    }
                    ("Service", "EnvironmentFile") => {
                        if value.is_empty() {
                            environment_files.clear();
                        } else {
                            let (optional, path) = match value.strip_prefix('-') {
                                Some(p) => (true, p),
                                None => (false, value.as_str()),
                            };
                            environment_files.push((PathBuf::from(path), optional));
                        }
                    }
                    ("Service", "WorkingDirectory") => {
                        working_directory = (!value.is_empty())
                            .then(|| PathBuf::from(value.trim_start_matches('-')))
                    }
                    ("Service", "Restart") => {
                        restart = RestartPolicy::parse(&value).ok_or_else(|| {
                            bad(format!(
                                "Failed to parse service restart specifier, ignoring: {value}"
                            ))
                        })?
                    }
                    ("Service", "RestartSec") => {
                        restart_sec = parse_timespan(&value).map_err(bad)?
                    }
                    ("Service", "TimeoutStopSec") => {
                        timeout_stop = parse_timespan(&value).map_err(bad)?
                    }
                    ("Service", "TimeoutSec") => {
                        timeout_stop = parse_timespan(&value).map_err(bad)?
                    }
                    ("Service", "KillSignal") => {
                        kill_signal = signal_number(&value)
                            .ok_or_else(|| bad(format!("Failed to parse signal name {value}")))?
                    }
                    ("Service", "KillMode") => kill_main_only = value == "process",
                    ("Service", "SyslogIdentifier") => syslog_identifier = Some(value),
                    ("Service", _) => {}
                    ("Install", "WantedBy") => {
                        wanted_by.extend(value.split_whitespace().map(String::from))
                    }
                    ("Install", "RequiredBy") => {
                        required_by.extend(value.split_whitespace().map(String::from))
                    }
                    ("Install", _) => {}
                    (other, _) => warnings.push(format!(
                        "{}: Unknown section '{other}'. Ignoring.",
                        file.display()
                    )),
                }
            }
        }
    }
    let exec = match exec_start.as_slice() {
        [] => {
            return Err(bad(
                "Service has no ExecStart=, ExecStop=, or SuccessAction=. Refusing.".into(),
            ));
        }
        [one] => ExecCommand::parse(one).map_err(bad)?,
        _ => {
            return Err(bad(
                "Service has more than one ExecStart= setting, which is only allowed for Type=oneshot services. Refusing."
                    .into(),
            ));
        }
    };
    let ident = syslog_identifier.unwrap_or_else(|| {
        Path::new(&exec.path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&exec.path)
            .to_string()
    });
    Ok((
        ServiceConfig {
            name: name.to_string(),
            fragment_path: sources.fragment.clone(),
            dropins: sources.dropins.clone(),
            description: description.unwrap_or_else(|| name.to_string()),
            documentation,
            exec_start: exec,
            environment,
            environment_files,
            working_directory,
            restart,
            restart_sec,
            kill_signal,
            kill_main_only,
            timeout_stop,
            syslog_identifier: ident,
            start_limit_interval,
            start_limit_burst,
            wanted_by,
            required_by,
            warnings,
        },
        sources,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_the_service_suffix() {
        assert_eq!(unit_name("kubelet"), "kubelet.service");
        assert_eq!(unit_name("kubelet.service"), "kubelet.service");
        assert_eq!(unit_name("multi-user.target"), "multi-user.target");
    }

    #[test]
    fn words_quotes_and_variables() {
        let w =
            split_words(r#"/usr/bin/kubelet $KUBELET_ARGS "${A} b" 'c d' e\ f --x=$Y"#).unwrap();
        assert_eq!(
            w,
            vec![
                Word::Text("/usr/bin/kubelet".into()),
                Word::Split("KUBELET_ARGS".into()),
                Word::Text("${A} b".into()),
                Word::Text("c d".into()),
                Word::Text("e f".into()),
                Word::Text("--x=$Y".into()),
            ]
        );
        assert!(split_words("\"open").is_err());
    }

    #[test]
    fn exec_start_expands_like_systemd() {
        let cmd = ExecCommand::parse(
            "/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS",
        )
        .unwrap();
        let env: BTreeMap<String, String> = [
            (
                "KUBELET_KUBECONFIG_ARGS",
                "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf",
            ),
            ("KUBELET_CONFIG_ARGS", "--config=/var/lib/kubelet/config.yaml"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            cmd.expand(&env),
            vec![
                "/usr/bin/kubelet",
                "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf",
                "--kubeconfig=/etc/kubernetes/kubelet.conf",
                "--config=/var/lib/kubelet/config.yaml",
            ]
        );
        let braces = ExecCommand::parse("-/bin/echo ${A} x${A}y").unwrap();
        assert!(braces.ignore_failure);
        let env: BTreeMap<String, String> =
            [("A".to_string(), "1 2".to_string())].into_iter().collect();
        assert_eq!(braces.expand(&env), vec!["/bin/echo", "1 2", "x1 2y"]);
        let at = ExecCommand::parse("@/bin/sh mysh -c true").unwrap();
        assert_eq!(at.path, "/bin/sh");
        assert_eq!(at.expand(&BTreeMap::new()), vec!["mysh", "-c", "true"]);
        assert!(ExecCommand::parse("sh -c true").is_err());
    }

    #[test]
    fn environment_assignments() {
        assert_eq!(
            parse_environment(r#""KUBELET_KUBECONFIG_ARGS=--a=1 --b=2" X=y"#).unwrap(),
            vec![
                (
                    "KUBELET_KUBECONFIG_ARGS".to_string(),
                    "--a=1 --b=2".to_string()
                ),
                ("X".to_string(), "y".to_string())
            ]
        );
    }

    #[test]
    fn environment_files_as_kubeadm_writes_them() {
        let text = "# written by kubeadm\nKUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10\"\n\nEMPTY=\nPLAIN = value  \nSINGLE='a \"b\"'\n";
        assert_eq!(
            parse_env_file(text),
            vec![
                (
                    "KUBELET_KUBEADM_ARGS".to_string(),
                    "--container-runtime-endpoint=unix:///run/containerd/containerd.sock --pod-infra-container-image=registry.k8s.io/pause:3.10".to_string()
                ),
                ("EMPTY".to_string(), String::new()),
                ("PLAIN".to_string(), "value".to_string()),
                ("SINGLE".to_string(), "a \"b\"".to_string()),
            ]
        );
    }

    #[test]
    fn time_spans() {
        assert_eq!(parse_timespan("10").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_timespan("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_timespan("1min 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_timespan("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_timespan("infinity").unwrap(), Duration::MAX);
        assert!(parse_timespan("ten").is_err());
        assert!(parse_timespan("5 parsecs").is_err());
    }

    #[test]
    fn restart_policies_follow_the_table_in_systemd_service_5() {
        use RestartPolicy::*;
        assert!(Always.restarts(Some(0), None));
        assert!(!OnFailure.restarts(Some(0), None));
        assert!(OnFailure.restarts(Some(1), None));
        assert!(!OnFailure.restarts(None, Some(15)), "SIGTERM is clean");
        assert!(OnFailure.restarts(None, Some(9)));
        assert!(OnSuccess.restarts(Some(0), None));
        assert!(!OnSuccess.restarts(Some(1), None));
        assert!(OnAbnormal.restarts(None, Some(9)));
        assert!(!OnAbnormal.restarts(Some(1), None));
        assert!(!No.restarts(Some(1), None));
    }

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn kubeadm_drop_in_overrides_exec_start() {
        let dir = TempDir(std::env::temp_dir().join(format!(
            "labsim-unit-test-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        )));
        std::fs::create_dir_all(dir.0.join("kubelet.service.d")).unwrap();
        std::fs::write(
            dir.0.join("kubelet.service"),
            "[Unit]\nDescription=kubelet: The Kubernetes Node Agent\nDocumentation=https://kubernetes.io/docs/\n\
             Wants=network-online.target\n\n[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n\
             StartLimitInterval=0\nRestartSec=10\n\n[Install]\nWantedBy=multi-user.target\n",
        )
        .unwrap();
        std::fs::write(
            dir.0.join("kubelet.service.d/10-kubeadm.conf"),
            "[Service]\nEnvironment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"\n\
             Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"\n\
             EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nEnvironmentFile=-/etc/default/kubelet\n\
             ExecStart=\nExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS\n",
        )
        .unwrap();
        let (svc, sources) = load_service(&dir.0, "kubelet.service").unwrap();
        assert_eq!(svc.description, "kubelet: The Kubernetes Node Agent");
        assert_eq!(svc.documentation, vec!["https://kubernetes.io/docs/"]);
        assert_eq!(svc.restart, RestartPolicy::Always);
        assert_eq!(svc.restart_sec, Duration::from_secs(10));
        assert_eq!(svc.start_limit_interval, Duration::ZERO);
        assert_eq!(svc.syslog_identifier, "kubelet");
        assert!(svc.exec_start.raw.ends_with("$KUBELET_EXTRA_ARGS"));
        assert_eq!(svc.environment.len(), 2);
        assert_eq!(
            svc.environment_files,
            vec![
                (PathBuf::from("/var/lib/kubelet/kubeadm-flags.env"), true),
                (PathBuf::from("/etc/default/kubelet"), true)
            ]
        );
        assert_eq!(svc.wanted_by, vec!["multi-user.target"]);
        assert_eq!(sources.dropins.len(), 1);

        std::fs::write(dir.0.join("bad.service"), "[Service]\nRestart=always\n").unwrap();
        assert!(matches!(
            load_service(&dir.0, "bad.service"),
            Err(UnitError::BadSetting { .. })
        ));
        assert_eq!(
            load_service(&dir.0, "nope.service").unwrap_err(),
            UnitError::NotFound("nope.service".into())
        );
    }
}
