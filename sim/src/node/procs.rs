//! Reading `/proc`: process identity (start time, session, namespaces), the processes of a unit's
//! session (labsim's stand-in for a unit's cgroup) and of a node's namespaces.

use std::fs;
use std::path::Path;

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The process ID.
    pub pid: i32,
    /// The command name (`comm`, at most 15 bytes).
    pub comm: String,
    /// The state letter (`R`, `S`, `Z`, …).
    pub state: char,
    /// The parent's PID.
    pub ppid: i32,
    /// The process group ID.
    pub pgrp: i32,
    /// The session ID.
    pub session: i32,
    /// Threads in the process.
    pub threads: u64,
    /// Start time in clock ticks after boot (identifies the process together with its PID).
    pub start_time: u64,
}

/// Parses the text of `/proc/<pid>/stat`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    // Fields after the command: 3 state, 4 ppid, 5 pgrp, 6 session, … 20 num_threads, 22 starttime.
    let field = |n: usize| rest.get(n - 3).copied();
    Some(Stat {
        pid,
        comm,
        state: field(3)?.chars().next()?,
        ppid: field(4)?.parse().ok()?,
        pgrp: field(5)?.parse().ok()?,
        session: field(6)?.parse().ok()?,
        threads: field(20)?.parse().ok()?,
        start_time: field(22)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat` of a live process, read under `proc` (normally `/proc`).
pub fn stat_in(proc: &Path, pid: i32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(proc.join(pid.to_string()).join("stat")).ok()?)
}

/// `/proc/<pid>/stat`.
pub fn stat(pid: i32) -> Option<Stat> {
    stat_in(Path::new("/proc"), pid)
}

/// The PIDs listed in `proc`.
pub fn pids_in(proc: &Path) -> Vec<i32> {
    let Ok(rd) = fs::read_dir(proc) else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether `pid` is a live process (not a zombie) that started at `start_time`.
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    stat(pid).is_some_and(|s| s.start_time == start_time && s.state != 'Z' && s.state != 'X')
}

/// The inode of one of a process's namespaces (`kind` = `pid`, `mnt`, `uts`, …).
pub fn namespace(pid: i32, kind: &str) -> Option<u64> {
    let link = fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok()?;
    let s = link.to_str()?;
    let inner = s.strip_prefix(&format!("{kind}:["))?.strip_suffix(']')?;
    inner.parse().ok()
}

/// Live (non-zombie) processes whose `kind` namespace is `ns`.
pub fn processes_in_namespace(kind: &str, ns: u64) -> Vec<i32> {
    pids_in(Path::new("/proc"))
        .into_iter()
        .filter(|&pid| namespace(pid, kind) == Some(ns))
        .filter(|&pid| stat(pid).is_some_and(|s| s.state != 'Z' && s.state != 'X'))
        .collect()
}

/// Live processes in process group `pgid` (labsim's stand-in for a unit's cgroup: a unit's main
/// process leads its own group, which its descendants inherit).
pub fn group_members(pgid: i32) -> Vec<Stat> {
    pids_in(Path::new("/proc"))
        .into_iter()
        .filter_map(stat)
        .filter(|s| s.pgrp == pgid && s.state != 'Z' && s.state != 'X')
        .collect()
}

/// The arguments of `pid` (empty for kernel threads and zombies).
pub fn argv(pid: i32) -> Vec<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The command line of `pid`, arguments joined with spaces (empty for kernel threads and zombies).
pub fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_the_name() {
        let text = "648 (kube (let) x) S 1 648 648 0 -1 4194560 1 0 0 0 3 4 0 0 20 0 14 0 4242 0 0";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.pid, 648);
        assert_eq!(s.comm, "kube (let) x");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.pgrp, 648);
        assert_eq!(s.session, 648);
        assert_eq!(s.threads, 14);
        assert_eq!(s.start_time, 4242);
    }

    #[test]
    fn this_process_is_alive_and_in_its_own_namespaces() {
        let me = std::process::id() as i32;
        let s = stat(me).unwrap();
        assert!(is_alive(me, s.start_time));
        assert!(!is_alive(me, s.start_time + 1));
        let ns = namespace(me, "pid").unwrap();
        assert!(processes_in_namespace("pid", ns).contains(&me));
        assert!(cmdline(me).contains("labsim"));
    }
}
