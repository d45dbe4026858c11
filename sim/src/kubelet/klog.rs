//! klog's text format, as the kubelet writes it to stderr (and journald keeps it):
//! `I1128 04:38:54.588330     648 scope.go:117] "RemoveContainer" containerID="…"` — severity
//! letter, `mmdd hh:mm:ss.uuuuuu` local time, the PID right-aligned in 7 columns, `file:line]`,
//! then the structured message (quoted) and `key=value` pairs with string values Go-quoted
//! (k8s.io/klog/v2 `textlogger`/`serialize`).

use std::io::Write;

/// A value of a structured log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kv {
    /// A string (printed Go-quoted).
    S(String),
    /// A number, bool or other value printed as is.
    Raw(String),
}

impl From<&str> for Kv {
    fn from(s: &str) -> Kv {
        Kv::S(s.to_string())
    }
}

impl From<String> for Kv {
    fn from(s: String) -> Kv {
        Kv::S(s)
    }
}

impl From<&String> for Kv {
    fn from(s: &String) -> Kv {
        Kv::S(s.clone())
    }
}

impl From<i64> for Kv {
    fn from(n: i64) -> Kv {
        Kv::Raw(n.to_string())
    }
}

impl From<u32> for Kv {
    fn from(n: u32) -> Kv {
        Kv::Raw(n.to_string())
    }
}

/// `klog.KObj(pod)`: `namespace/name`.
pub fn kobj(namespace: &str, name: &str) -> Kv {
    if namespace.is_empty() {
        Kv::S(name.to_string())
    } else {
        Kv::S(format!("{namespace}/{name}"))
    }
}

/// The kubelet's logger.
#[derive(Debug, Clone)]
pub struct Klog {
    pid: u32,
    verbosity: u32,
}

/// Formats one klog line (without the trailing newline).
pub fn format_line(
    severity: char,
    when: &jiff::Zoned,
    pid: u32,
    site: &str,
    msg: &str,
    kvs: &[(&str, Kv)],
) -> String {
    let mut line = format!(
        "{severity}{} {pid:>7} {site}] {}",
        when.strftime("%m%d %H:%M:%S%.6f"),
        crate::runtime::go_quote(msg)
    );
    for (k, v) in kvs {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        match v {
            Kv::S(s) => line.push_str(&crate::runtime::go_quote(s)),
            Kv::Raw(r) => line.push_str(r),
        }
    }
    line
}

impl Klog {
    /// A logger for this process at verbosity `v` (`--v`).
    pub fn new(verbosity: u32) -> Klog {
        Klog {
            pid: std::process::id(),
            verbosity,
        }
    }

    /// Whether `V(level)` lines are printed.
    pub fn v(&self, level: u32) -> bool {
        self.verbosity >= level
    }

    fn emit(&self, severity: char, site: &str, msg: &str, kvs: &[(&str, Kv)]) {
        let line = format_line(severity, &jiff::Zoned::now(), self.pid, site, msg, kvs);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }

    /// `klog.InfoS`.
    pub fn info(&self, site: &str, msg: &str, kvs: &[(&str, Kv)]) {
        self.emit('I', site, msg, kvs);
    }

    /// `klog.V(level).InfoS`.
    pub fn vinfo(&self, level: u32, site: &str, msg: &str, kvs: &[(&str, Kv)]) {
        if self.v(level) {
            self.emit('I', site, msg, kvs);
        }
    }

    /// `klog.ErrorS(err, …)`: the error comes first as `err="…"`.
    pub fn error(&self, site: &str, err: Option<&str>, msg: &str, kvs: &[(&str, Kv)]) {
        let mut all: Vec<(&str, Kv)> = vec![];
        if let Some(e) = err {
            all.push(("err", Kv::S(e.to_string())));
        }
        all.extend(kvs.iter().cloned());
        self.emit('E', site, msg, &all);
    }

    /// `klog.V(level).Infof`: an unstructured line (the text is not quoted).
    pub fn vinfof(&self, level: u32, site: &str, text: &str) {
        if self.v(level) {
            let when = jiff::Zoned::now();
            let line = format!(
                "I{} {:>7} {site}] {text}",
                when.strftime("%m%d %H:%M:%S%.6f"),
                self.pid
            );
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }

    /// A warning line.
    pub fn warning(&self, site: &str, msg: &str, kvs: &[(&str, Kv)]) {
        self.emit('W', site, msg, kvs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_look_like_klog() {
        let when: jiff::Zoned = "2023-11-28T04:38:54.588330123+00:00[UTC]".parse().unwrap();
        assert_eq!(
            format_line(
                'I',
                &when,
                648,
                "scope.go:117",
                "RemoveContainer",
                &[("containerID", Kv::S("abc".into()))]
            ),
            "I1128 04:38:54.588330     648 scope.go:117] \"RemoveContainer\" containerID=\"abc\""
        );
        assert_eq!(
            format_line(
                'E',
                &when,
                12345678,
                "kubelet.go:3017",
                "Container runtime network not ready",
                &[
                    ("networkReady", Kv::S("NetworkReady=false reason:X".into())),
                    ("n", Kv::Raw("3".into()))
                ]
            ),
            "E1128 04:38:54.588330 12345678 kubelet.go:3017] \"Container runtime network not ready\" networkReady=\"NetworkReady=false reason:X\" n=3"
        );
        assert_eq!(kobj("default", "x"), Kv::S("default/x".into()));
    }
}
