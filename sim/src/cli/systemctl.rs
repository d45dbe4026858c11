//! `systemctl` on a node: `start`, `stop`, `restart`, `enable`, `disable` (`--now`), `is-active`,
//! `is-enabled`, `status`, `daemon-reload`, `reset-failed`, with the messages, streams and exit codes
//! of systemd 252 (`src/systemctl/`, `src/shared/install.c`; CLI-REFERENCE.md §6). Texts that the
//! host's systemd 252 could print offline (`systemctl --root=…`) were checked against it.

use std::io::Write;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::node::journal::format_short;
use crate::node::proto::{
    Client, ExitRecord, InstallChange, Request, Response, UnitAction, UnitFailure, UnitOutcome,
    UnitStatus,
};
use crate::node::unit::unit_name;

/// What `systemctl` prints and returns.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code.
    pub code: u8,
}

/// A parsed `systemctl` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The verb.
    pub action: UnitAction,
    /// Unit names as given.
    pub units: Vec<String>,
    /// `--now`.
    pub now: bool,
    /// `-q`/`--quiet`.
    pub quiet: bool,
    /// `-n`/`--lines` (status; default 10).
    pub lines: usize,
}

/// Parses systemctl's arguments (getopt rules: options anywhere, `--` ends them).
///
/// # Errors
/// The message and exit code systemctl gives for a bad command line.
pub fn parse(args: &[String]) -> Result<Invocation, (String, u8)> {
    let mut words = Vec::new();
    let mut now = false;
    let mut quiet = false;
    let mut lines = 10;
    let mut i = 0;
    let bad_lines = |v: &str| (format!("Failed to parse lines '{v}'"), 1);
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            words.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, val) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match name {
                "now" => now = true,
                "quiet" => quiet = true,
                "no-pager" | "no-block" | "no-legend" | "full" | "all" | "system"
                | "no-ask-password" | "plain" => {}
                "lines" => {
                    let v = match val {
                        Some(v) => v,
                        None if i < args.len() => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        None => {
                            return Err((
                                "systemctl: option '--lines' requires an argument".into(),
                                1,
                            ));
                        }
                    };
                    lines = v.parse().map_err(|_| bad_lines(&v))?;
                }
                _ => return Err((format!("systemctl: unrecognized option '--{name}'"), 1)),
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                match chars[j] {
                    'q' => quiet = true,
                    'l' | 'a' | 'f' => {}
                    'n' => {
                        let rest: String = chars[j + 1..].iter().collect();
                        let v = if !rest.is_empty() {
                            rest
                        } else if i < args.len() {
                            i += 1;
                            args[i - 1].clone()
                        } else {
                            return Err((
                                "systemctl: option requires an argument -- 'n'".into(),
                                1,
                            ));
                        };
                        lines = v.parse().map_err(|_| bad_lines(&v))?;
                        break;
                    }
                    c => return Err((format!("systemctl: invalid option -- '{c}'"), 1)),
                }
                j += 1;
            }
            continue;
        }
        words.push(a.clone());
    }
    let Some(verb) = words.first() else {
        return Err((
            "labsim's systemctl needs a verb: start, stop, restart, enable, disable, is-active, is-enabled, status, daemon-reload, reset-failed".into(),
            1,
        ));
    };
    let action = match verb.as_str() {
        "start" => UnitAction::Start,
        "stop" => UnitAction::Stop,
        "restart" | "try-restart" | "reload-or-restart" => UnitAction::Restart,
        "enable" => UnitAction::Enable,
        "disable" => UnitAction::Disable,
        "is-active" => UnitAction::IsActive,
        "is-enabled" => UnitAction::IsEnabled,
        "status" => UnitAction::Status,
        "daemon-reload" => UnitAction::DaemonReload,
        "reset-failed" => UnitAction::ResetFailed,
        "list-units" | "list-unit-files" | "show" | "cat" | "mask" | "unmask" | "kill"
        | "reload" | "edit" | "isolate" | "reboot" | "poweroff" | "halt" | "is-failed"
        | "list-dependencies" => {
            return Err((
                format!(
                    "labsim's systemctl does not implement '{verb}' yet (it has start, stop, restart, enable, disable, is-active, is-enabled, status, daemon-reload, reset-failed)"
                ),
                1,
            ));
        }
        other => return Err((format!("Unknown command verb {other}."), 1)),
    };
    let units: Vec<String> = words[1..].to_vec();
    match action {
        UnitAction::DaemonReload if !units.is_empty() => {
            return Err(("Too many arguments.".into(), 1));
        }
        UnitAction::DaemonReload | UnitAction::ResetFailed => {}
        UnitAction::Status if units.is_empty() => {
            return Err((
                "labsim's systemctl shows the status of units only: name one, e.g. `systemctl status kubelet`".into(),
                1,
            ));
        }
        _ if units.is_empty() => return Err(("Too few arguments.".into(), 1)),
        _ => {}
    }
    Ok(Invocation {
        action,
        units,
        now,
        quiet,
        lines,
    })
}

/// `format_timestamp_relative` of systemd (`src/basic/time-util.c`).
pub fn relative(then_us: i64, now_us: i64) -> String {
    const SEC: i64 = 1_000_000;
    const MIN: i64 = 60 * SEC;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;
    const WEEK: i64 = 7 * DAY;
    const MONTH: i64 = 2_629_800 * SEC;
    const YEAR: i64 = 31_557_600 * SEC;
    let d = now_us - then_us;
    if d <= 0 {
        return "now".into();
    }
    let s = if d >= YEAR {
        let y = d / YEAR;
        let m = (d % YEAR) / MONTH;
        format!(
            "{y} {} {m} {}",
            if y > 1 { "years" } else { "year" },
            if m > 1 { "months" } else { "month" }
        )
    } else if d >= MONTH {
        let m = d / MONTH;
        format!(
            "{m} {} {} days",
            if m > 1 { "months" } else { "month" },
            (d % MONTH) / DAY
        )
    } else if d >= WEEK {
        let w = d / WEEK;
        format!(
            "{w} {} {} days",
            if w > 1 { "weeks" } else { "week" },
            (d % WEEK) / DAY
        )
    } else if d >= 2 * DAY {
        format!("{} days", d / DAY)
    } else if d >= 25 * HOUR {
        format!("1 day {}h", (d - DAY) / HOUR)
    } else if d >= 6 * HOUR {
        format!("{}h", d / HOUR)
    } else if d >= HOUR {
        format!("{}h {}min", d / HOUR, (d % HOUR) / MIN)
    } else if d >= 5 * MIN {
        format!("{}min", d / MIN)
    } else if d >= MIN {
        format!("{}min {}s", d / MIN, (d % MIN) / SEC)
    } else if d >= SEC {
        format!("{}s", d / SEC)
    } else if d >= 1000 {
        format!("{}ms", d / 1000)
    } else {
        format!("{d}us")
    };
    format!("{s} ago")
}

fn exit_display(r: &ExitRecord) -> String {
    if r.code == "killed" {
        format!(
            "code=killed, signal={}",
            crate::node::systemd::signal_name(r.status)
        )
    } else {
        match crate::node::systemd::exit_status_name(r.status) {
            Some(n) => format!("code={}, status={}/{n}", r.code, r.status),
            None => format!("code={}, status={}", r.code, r.status),
        }
    }
}

/// The default `TasksMax=` of a unit: 15 % of the kernel's PID limit (`DefaultTasksMax=15%`,
/// systemd-system.conf(5)).
fn tasks_limit() -> Option<u64> {
    let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max * 15 / 100)
}

/// `systemctl status` of one unit (systemd 252 `print_status_info`).
pub fn format_status(s: &UnitStatus, now_us: i64, tz: &TimeZone, tasks_max: Option<u64>) -> String {
    let dot = match s.active_state.as_str() {
        "failed" => "×",
        "inactive" => "○",
        _ => "●",
    };
    let mut o = String::new();
    if s.description == s.name {
        o.push_str(&format!("{dot} {}\n", s.name));
    } else {
        o.push_str(&format!("{dot} {} - {}\n", s.name, s.description));
    }
    match s.load_state.as_str() {
        "loaded" => o.push_str(&format!(
            "     Loaded: loaded ({}; {}; preset: {})\n",
            s.fragment_path.as_deref().unwrap_or(""),
            s.unit_file_state,
            s.preset
        )),
        "bad-setting" => o.push_str(&format!(
            "     Loaded: bad-setting (Reason: Unit {} has a bad unit file setting.)\n",
            s.name
        )),
        other => o.push_str(&format!("     Loaded: {other}\n")),
    }
    let mut dirs: Vec<(String, Vec<String>)> = Vec::new();
    for d in &s.dropins {
        let p = std::path::Path::new(d);
        let dir = p
            .parent()
            .map(|x| x.display().to_string())
            .unwrap_or_default();
        let file = p
            .file_name()
            .map(|x| x.to_string_lossy().into_owned())
            .unwrap_or_default();
        match dirs.iter_mut().find(|(x, _)| *x == dir) {
            Some((_, files)) => files.push(file),
            None => dirs.push((dir, vec![file])),
        }
    }
    for (i, (dir, files)) in dirs.iter().enumerate() {
        let label = if i == 0 {
            "    Drop-In: "
        } else {
            "             "
        };
        o.push_str(&format!(
            "{label}{dir}\n             └─{}\n",
            files.join(", ")
        ));
    }
    let mut active = format!("{} ({})", s.active_state, s.sub_state);
    if s.result != "success" {
        active.push_str(&format!(" (Result: {})", s.result));
    }
    if let Some(t) = s.since_us {
        let when = Timestamp::from_microsecond(t)
            .map(|t| {
                t.to_zoned(tz.clone())
                    .strftime("%a %Y-%m-%d %H:%M:%S %Z")
                    .to_string()
            })
            .unwrap_or_default();
        active.push_str(&format!(" since {when}; {}", relative(t, now_us)));
    }
    o.push_str(&format!("     Active: {active}\n"));
    for (i, d) in s.documentation.iter().enumerate() {
        let label = if i == 0 {
            "       Docs: "
        } else {
            "             "
        };
        o.push_str(&format!("{label}{d}\n"));
    }
    if let Some(e) = &s.last_exit {
        o.push_str(&format!(
            "    Process: {} ExecStart={} ({})\n",
            e.pid,
            e.exec,
            exit_display(e)
        ));
        o.push_str(&format!("   Main PID: {} ({})\n", e.pid, exit_display(e)));
    }
    if let Some((pid, comm)) = &s.main_pid {
        o.push_str(&format!("   Main PID: {pid} ({comm})\n"));
    }
    if !s.processes.is_empty() {
        match tasks_max {
            Some(m) => o.push_str(&format!("      Tasks: {} (limit: {m})\n", s.tasks)),
            None => o.push_str(&format!("      Tasks: {}\n", s.tasks)),
        }
        o.push_str(&format!("     CGroup: /system.slice/{}\n", s.name));
        for (i, (pid, cmd)) in s.processes.iter().enumerate() {
            let branch = if i + 1 == s.processes.len() {
                "└─"
            } else {
                "├─"
            };
            o.push_str(&format!("             {branch}{pid} {cmd}\n"));
        }
    }
    if !s.journal.is_empty() {
        o.push('\n');
        for e in &s.journal {
            o.push_str(&format_short(e, tz, true));
            o.push('\n');
        }
    }
    o
}

/// The text `systemctl enable` prints for a unit without `[Install]` settings (systemd 252).
pub const NO_INSTALL_SECTION: &str =
    "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,
Alias= settings in the [Install] section, and DefaultInstance= for template
units). This means they are not meant to be enabled using systemctl.
 
Possible reasons for having this kind of units are:
• A unit may be statically enabled by being symlinked from another unit's
  .wants/ or .requires/ directory.
• A unit's purpose may be to act as a helper for some other unit which has
  a requirement dependency on it.
• A unit may be started when needed via activation (socket, path, timer,
  D-Bus, udev, scripted systemctl call, ...).
• In case of template units, the unit is meant to be enabled with some
  instance name specified.
";

fn changed_warning(unit: &str) -> String {
    format!(
        "Warning: The unit file, source configuration file or drop-ins of {unit} changed on disk. Run 'systemctl daemon-reload' to reload units.\n"
    )
}

/// Turns the agent's answer into systemctl's output.
pub fn render(inv: &Invocation, outcomes: &[UnitOutcome], now_us: i64, tz: &TimeZone) -> Output {
    let mut out = Output::default();
    let verb = match inv.action {
        UnitAction::Start => "start",
        UnitAction::Stop => "stop",
        UnitAction::Restart => "restart",
        UnitAction::Enable => "enable",
        UnitAction::Disable => "disable",
        _ => "",
    };
    match inv.action {
        UnitAction::Start | UnitAction::Stop | UnitAction::Restart | UnitAction::ResetFailed => {
            for o in outcomes {
                if o.changed_on_disk {
                    out.stderr.push_str(&changed_warning(&o.unit));
                }
                let u = &o.unit;
                match &o.failure {
                    None => {}
                    Some(UnitFailure::NotFound) => {
                        out.stderr
                            .push_str(&format!("Failed to {verb} {u}: Unit {u} not found.\n"));
                        out.code = 5;
                    }
                    Some(UnitFailure::NotLoaded) => {
                        out.stderr
                            .push_str(&format!("Failed to {verb} {u}: Unit {u} not loaded.\n"));
                        out.code = 5;
                    }
                    Some(UnitFailure::BadSetting) => {
                        out.stderr.push_str(&format!(
                            "Failed to {verb} {u}: Unit {u} has a bad unit file setting.\nSee system logs and 'systemctl status {u}' for details.\n"
                        ));
                        out.code = 1;
                    }
                    Some(UnitFailure::AccessDenied) => {
                        out.stderr.push_str(&format!(
                            "Failed to {verb} {u}: Access denied\nSee system logs and 'systemctl status {u}' for details.\n"
                        ));
                        out.code = 1;
                    }
                    Some(UnitFailure::JobFailed) => {
                        let why = match o.state.as_deref() {
                            Some("start-limit-hit") => {
                                " because start of the service was attempted too often"
                            }
                            Some("resources") => {
                                " because of unavailable resources or another system error"
                            }
                            _ => "",
                        };
                        out.stderr.push_str(&format!(
                            "Job for {u} failed{why}.\nSee \"systemctl status {u}\" and \"journalctl -xeu {u}\" for details.\n"
                        ));
                        if o.state.as_deref() == Some("start-limit-hit") {
                            out.stderr.push_str(&format!(
                                "To force a start use \"systemctl reset-failed {u}\"\nfollowed by \"systemctl start {u}\" again.\n"
                            ));
                        }
                        out.code = 1;
                    }
                    Some(UnitFailure::NotImplemented) => {
                        out.stderr.push_str(&format!(
                            "Failed to {verb} {u}: labsim runs the container runtime inside the node agent, so {u} cannot be stopped or restarted on its own (not implemented; `minikube node stop` stops the whole node)\n"
                        ));
                        out.code = 1;
                    }
                    Some(UnitFailure::NoInstallSection) => {}
                }
            }
        }
        UnitAction::Enable | UnitAction::Disable => {
            for o in outcomes {
                for c in &o.changes {
                    match c {
                        InstallChange::Symlink { path, target } => out
                            .stderr
                            .push_str(&format!("Created symlink {path} → {target}.\n")),
                        InstallChange::Unlink { path } => {
                            out.stderr.push_str(&format!("Removed \"{path}\".\n"))
                        }
                    }
                }
                match &o.failure {
                    None => {}
                    Some(UnitFailure::NotFound) => {
                        out.stderr.push_str(&format!(
                            "Failed to {verb} unit: Unit file {} does not exist.\n",
                            o.unit
                        ));
                        out.code = 1;
                    }
                    Some(UnitFailure::NoInstallSection) => out.stderr.push_str(NO_INSTALL_SECTION),
                    Some(UnitFailure::AccessDenied) => {
                        out.stderr
                            .push_str(&format!("Failed to {verb} unit: Access denied\n"));
                        out.code = 1;
                    }
                    Some(other) => {
                        // --now failed to start/stop the unit.
                        let sub = Invocation {
                            action: if inv.action == UnitAction::Enable {
                                UnitAction::Start
                            } else {
                                UnitAction::Stop
                            },
                            ..inv.clone()
                        };
                        let o2 = UnitOutcome {
                            failure: Some(other.clone()),
                            changes: Vec::new(),
                            ..o.clone()
                        };
                        let r = render(&sub, &[o2], now_us, tz);
                        out.stderr.push_str(&r.stderr);
                        out.code = r.code;
                    }
                }
            }
        }
        UnitAction::IsActive => {
            let mut any = false;
            for o in outcomes {
                let s = o.state.clone().unwrap_or_else(|| "inactive".into());
                any |= s == "active";
                if !inv.quiet {
                    out.stdout.push_str(&format!("{s}\n"));
                }
            }
            out.code = if any { 0 } else { 3 };
        }
        UnitAction::IsEnabled => {
            let mut any = false;
            out.code = 1;
            for o in outcomes {
                match &o.state {
                    Some(s) => {
                        any |= matches!(s.as_str(), "enabled" | "static" | "alias" | "indirect");
                        if !inv.quiet {
                            out.stdout.push_str(&format!("{s}\n"));
                        }
                    }
                    None => out.stderr.push_str(&format!(
                        "Failed to get unit file state for {}: No such file or directory\n",
                        o.unit
                    )),
                }
            }
            if any {
                out.code = 0;
            }
        }
        UnitAction::Status => {
            let mut first = true;
            out.code = 0;
            let mut worst = 0;
            for o in outcomes {
                match &o.status {
                    Some(st) => {
                        if !first {
                            out.stdout.push('\n');
                        }
                        first = false;
                        out.stdout
                            .push_str(&format_status(st, now_us, tz, tasks_limit()));
                        if o.changed_on_disk {
                            out.stderr.push_str(&changed_warning(&o.unit));
                        }
                        if st.active_state != "active" && st.active_state != "reloading" {
                            worst = worst.max(3);
                        }
                    }
                    None => {
                        out.stderr
                            .push_str(&format!("Unit {} could not be found.\n", o.unit));
                        worst = 4;
                    }
                }
            }
            out.code = worst;
        }
        UnitAction::DaemonReload => {
            if outcomes
                .iter()
                .any(|o| o.failure == Some(UnitFailure::AccessDenied))
            {
                out.stderr
                    .push_str("Failed to reload daemon: Access denied\n");
                out.code = 1;
            }
        }
    }
    out
}

/// Entry point; returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let inv = match parse(args) {
        Ok(i) => i,
        Err((msg, code)) => {
            eprintln!("{msg}");
            return code;
        }
    };
    let sock = match super::agent_socket("systemctl") {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return 1;
        }
    };
    let req = Request::Units {
        action: inv.action,
        units: inv.units.iter().map(|u| unit_name(u)).collect(),
        now: inv.now,
        lines: inv.lines,
    };
    let resp = Client::connect(&sock).and_then(|mut c| c.call(&req));
    let outcomes = match resp {
        Ok(Response::Units { outcomes }) => outcomes,
        Ok(Response::Error { message }) => {
            eprintln!("systemctl: the node agent refused the request: {message}");
            return 1;
        }
        Ok(other) => {
            eprintln!("systemctl: unexpected answer from the node agent: {other:?}");
            return 1;
        }
        Err(e) => {
            eprintln!("systemctl: {e}");
            return 1;
        }
    };
    let out = render(
        &inv,
        &outcomes,
        Timestamp::now().as_microsecond(),
        &TimeZone::system(),
    );
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    out.code
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::journal::Entry;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines_and_systemds_errors() {
        let i = parse(&v(&["enable", "--now", "kubelet"])).unwrap();
        assert_eq!(i.action, UnitAction::Enable);
        assert!(i.now);
        assert_eq!(i.units, v(&["kubelet"]));
        assert_eq!(parse(&v(&["status", "-n5", "x"])).unwrap().lines, 5);
        assert_eq!(parse(&v(&["status", "--lines=0", "x"])).unwrap().lines, 0);
        assert_eq!(
            parse(&v(&["foo"])).unwrap_err(),
            ("Unknown command verb foo.".into(), 1)
        );
        assert_eq!(
            parse(&v(&["--foo"])).unwrap_err().0,
            "systemctl: unrecognized option '--foo'"
        );
        assert_eq!(
            parse(&v(&["-z"])).unwrap_err().0,
            "systemctl: invalid option -- 'z'"
        );
        assert_eq!(parse(&v(&["start"])).unwrap_err().0, "Too few arguments.");
        assert_eq!(
            parse(&v(&["daemon-reload", "x"])).unwrap_err().0,
            "Too many arguments."
        );
        assert_eq!(
            parse(&v(&["status", "--lines=x", "foo"])).unwrap_err().0,
            "Failed to parse lines 'x'"
        );
    }

    #[test]
    fn relative_times() {
        let s = 1_000_000;
        assert_eq!(relative(0, 3 * s), "3s ago");
        assert_eq!(relative(0, 90 * s), "1min 30s ago");
        assert_eq!(relative(0, 46 * 60 * s), "46min ago");
        assert_eq!(relative(0, 3600 * s + 300 * s), "1h 5min ago");
        assert_eq!(relative(0, 7 * 3600 * s), "7h ago");
        assert_eq!(relative(0, 3 * 86400 * s), "3 days ago");
        assert_eq!(relative(0, 500), "500us ago");
        assert_eq!(relative(5, 5), "now");
    }

    fn kubelet(active: &str, sub: &str, result: &str) -> UnitStatus {
        UnitStatus {
            name: "kubelet.service".into(),
            description: "kubelet: The Kubernetes Node Agent".into(),
            load_state: "loaded".into(),
            load_error: None,
            fragment_path: Some("/etc/systemd/system/kubelet.service".into()),
            dropins: vec!["/etc/systemd/system/kubelet.service.d/10-kubeadm.conf".into()],
            unit_file_state: "enabled".into(),
            preset: "enabled".into(),
            active_state: active.into(),
            sub_state: sub.into(),
            result: result.into(),
            since_us: Some(
                "2026-01-23T10:41:11Z"
                    .parse::<Timestamp>()
                    .unwrap()
                    .as_microsecond(),
            ),
            documentation: vec!["https://kubernetes.io/docs/".into()],
            main_pid: None,
            last_exit: None,
            processes: vec![],
            tasks: 0,
            journal: vec![],
        }
    }

    #[test]
    fn status_of_a_crash_looping_kubelet() {
        let mut s = kubelet("activating", "auto-restart", "exit-code");
        s.last_exit = Some(ExitRecord {
            pid: 1234,
            exec: "/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS".into(),
            code: "exited".into(),
            status: 1,
        });
        let now = s.since_us.unwrap() + 3_000_000;
        insta::assert_snapshot!(format_status(&s, now, &TimeZone::UTC, Some(4915)), @r"
        ● kubelet.service - kubelet: The Kubernetes Node Agent
             Loaded: loaded (/etc/systemd/system/kubelet.service; enabled; preset: enabled)
            Drop-In: /etc/systemd/system/kubelet.service.d
                     └─10-kubeadm.conf
             Active: activating (auto-restart) (Result: exit-code) since Fri 2026-01-23 10:41:11 UTC; 3s ago
               Docs: https://kubernetes.io/docs/
            Process: 1234 ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS (code=exited, status=1/FAILURE)
           Main PID: 1234 (code=exited, status=1/FAILURE)
        ");
    }

    #[test]
    fn status_of_a_running_unit_with_its_journal() {
        let mut s = kubelet("active", "running", "success");
        s.main_pid = Some((648, "kubelet".into()));
        s.processes = vec![(
            648,
            "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml".into(),
        )];
        s.tasks = 14;
        s.journal = vec![Entry {
            seq: 1,
            ts_us: s.since_us.unwrap(),
            boot: "b".into(),
            hostname: "minikube".into(),
            unit: Some("kubelet.service".into()),
            ident: "systemd".into(),
            pid: 1,
            message: "Started kubelet.service - kubelet: The Kubernetes Node Agent.".into(),
        }];
        let now = s.since_us.unwrap() + 46 * 60 * 1_000_000;
        insta::assert_snapshot!(format_status(&s, now, &TimeZone::UTC, Some(4915)), @r"
        ● kubelet.service - kubelet: The Kubernetes Node Agent
             Loaded: loaded (/etc/systemd/system/kubelet.service; enabled; preset: enabled)
            Drop-In: /etc/systemd/system/kubelet.service.d
                     └─10-kubeadm.conf
             Active: active (running) since Fri 2026-01-23 10:41:11 UTC; 46min ago
               Docs: https://kubernetes.io/docs/
           Main PID: 648 (kubelet)
              Tasks: 14 (limit: 4915)
             CGroup: /system.slice/kubelet.service
                     └─648 /usr/bin/kubelet --config=/var/lib/kubelet/config.yaml

        Jan 23 10:41:11 minikube systemd[1]: Started kubelet.service - kubelet: The Kubernetes Node Agent.
        ");
    }

    #[test]
    fn enable_disable_and_failures_render_like_systemd() {
        let inv = parse(&v(&["enable", "kubelet"])).unwrap();
        let o = UnitOutcome {
            unit: "kubelet.service".into(),
            failure: None,
            state: None,
            changed_on_disk: false,
            changes: vec![InstallChange::Symlink {
                path: "/etc/systemd/system/multi-user.target.wants/kubelet.service".into(),
                target: "/etc/systemd/system/kubelet.service".into(),
            }],
            status: None,
        };
        let r = render(&inv, std::slice::from_ref(&o), 0, &TimeZone::UTC);
        assert_eq!(
            r.stderr,
            "Created symlink /etc/systemd/system/multi-user.target.wants/kubelet.service → /etc/systemd/system/kubelet.service.\n"
        );
        assert_eq!((r.stdout.as_str(), r.code), ("", 0));
        let missing = UnitOutcome {
            failure: Some(UnitFailure::NotFound),
            changes: vec![],
            unit: "bar.service".into(),
            ..o.clone()
        };
        let r = render(
            &parse(&v(&["start", "bar"])).unwrap(),
            std::slice::from_ref(&missing),
            0,
            &TimeZone::UTC,
        );
        assert_eq!(
            r.stderr,
            "Failed to start bar.service: Unit bar.service not found.\n"
        );
        assert_eq!(r.code, 5);
        let r = render(
            &parse(&v(&["enable", "bar"])).unwrap(),
            std::slice::from_ref(&missing),
            0,
            &TimeZone::UTC,
        );
        assert_eq!(
            r.stderr,
            "Failed to enable unit: Unit file bar.service does not exist.\n"
        );
        let r = render(
            &parse(&v(&["is-enabled", "bar"])).unwrap(),
            &[missing],
            0,
            &TimeZone::UTC,
        );
        assert_eq!(
            r.stderr,
            "Failed to get unit file state for bar.service: No such file or directory\n"
        );
        assert_eq!(r.code, 1);
        let unlink = UnitOutcome {
            changes: vec![InstallChange::Unlink {
                path: "/etc/systemd/system/multi-user.target.wants/kubelet.service".into(),
            }],
            ..o
        };
        let r = render(
            &parse(&v(&["disable", "kubelet"])).unwrap(),
            &[unlink],
            0,
            &TimeZone::UTC,
        );
        assert_eq!(
            r.stderr,
            "Removed \"/etc/systemd/system/multi-user.target.wants/kubelet.service\".\n"
        );
    }
}
