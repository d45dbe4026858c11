//! The node's journald: every line a unit's process prints, and systemd's own messages about
//! units, kept with timestamp, PID, identifier and boot in `/var/log/journal/` (persisted across
//! node restarts, like journald's `Storage=persistent`), and printed in journalctl's formats.
//!
//! Storage: one JSON-lines file per unit (`<unit>.jsonl`) plus `system.jsonl` for entries that
//! belong to no unit, so `journalctl -u UNIT` reads only its unit's file. Each entry carries a
//! sequence number that orders entries written in the same microsecond.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Order of writing (monotonic across boots).
    pub seq: u64,
    /// `__REALTIME_TIMESTAMP`: microseconds since the Unix epoch.
    pub ts_us: i64,
    /// `_BOOT_ID` (32 hex digits).
    pub boot: String,
    /// `_HOSTNAME`.
    pub hostname: String,
    /// The unit the entry belongs to (`_SYSTEMD_UNIT`, or `UNIT` for systemd's messages about it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `SYSLOG_IDENTIFIER` (`kubelet`, `systemd`, …).
    pub ident: String,
    /// `_PID`.
    pub pid: u32,
    /// `MESSAGE`.
    pub message: String,
}

/// The journal could not be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A journal file could not be read or written.
    #[error("journal file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Which entries a query selects (what `journalctl` options select).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// `-u UNIT`: entries of any of these units (all entries when empty).
    #[serde(default)]
    pub units: Vec<String>,
    /// `--since`: entries at or after this time (µs since the epoch).
    #[serde(default)]
    pub since_us: Option<i64>,
    /// `--until`: entries at or before this time.
    #[serde(default)]
    pub until_us: Option<i64>,
    /// `-b`: entries of this boot only.
    #[serde(default)]
    pub boot: Option<String>,
    /// `-n N`: only the last N matching entries.
    #[serde(default)]
    pub lines: Option<usize>,
}

impl Query {
    /// Whether `e` matches everything but the line limit.
    pub fn matches(&self, e: &Entry) -> bool {
        (self.units.is_empty() || e.unit.as_ref().is_some_and(|u| self.units.contains(u)))
            && self.since_us.is_none_or(|s| e.ts_us >= s)
            && self.until_us.is_none_or(|u| e.ts_us <= u)
            && self.boot.as_ref().is_none_or(|b| &e.boot == b)
    }
}

struct State {
    seq: u64,
    files: HashMap<String, File>,
}

/// The node's journal (one per agent).
pub struct Journal {
    dir: PathBuf,
    boot: String,
    hostname: String,
    state: Mutex<State>,
    tx: tokio::sync::broadcast::Sender<Entry>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.dir)
            .field("boot", &self.boot)
            .finish_non_exhaustive()
    }
}

fn file_key(unit: Option<&str>) -> String {
    unit.map(|u| u.replace('/', "_"))
        .unwrap_or_else(|| "system".to_string())
}

/// Reads every entry of one journal file (damaged lines are skipped, as journald skips corrupt
/// entries).
pub fn read_file(path: &Path) -> Vec<Entry> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

impl Journal {
    /// Opens (creating) the journal in `dir` for a boot, on a host.
    ///
    /// # Errors
    /// [`JournalError::Io`] when the directory cannot be created.
    pub fn open(dir: &Path, boot: &str, hostname: &str) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut seq = 0;
        for f in Self::files(dir) {
            if let Some(last) = read_file(&f).last() {
                seq = seq.max(last.seq);
            }
        }
        let (tx, _) = tokio::sync::broadcast::channel(4096);
        Ok(Journal {
            dir: dir.to_path_buf(),
            boot: boot.to_string(),
            hostname: hostname.to_string(),
            state: Mutex::new(State {
                seq,
                files: HashMap::new(),
            }),
            tx,
        })
    }

    fn files(dir: &Path) -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// This boot's ID.
    pub fn boot(&self) -> &str {
        &self.boot
    }

    /// Appends an entry now and hands it to followers. Writing errors are reported on the agent's
    /// stderr (the node's console.log): journald drops what it cannot store, too.
    pub fn log(&self, unit: Option<&str>, ident: &str, pid: u32, message: &str) {
        let mut st = self.state.lock().expect("journal lock");
        st.seq += 1;
        let entry = Entry {
            seq: st.seq,
            ts_us: Timestamp::now().as_microsecond(),
            boot: self.boot.clone(),
            hostname: self.hostname.clone(),
            unit: unit.map(String::from),
            ident: ident.to_string(),
            pid,
            message: message.to_string(),
        };
        let key = file_key(unit);
        let path = self.dir.join(format!("{key}.jsonl"));
        if !st.files.contains_key(&key) {
            match OpenOptions::new().create(true).append(true).open(&path) {
                Ok(f) => {
                    st.files.insert(key.clone(), f);
                }
                Err(e) => eprintln!("labsim journald: cannot open {}: {e}", path.display()),
            }
        }
        if let Some(f) = st.files.get_mut(&key) {
            let line = serde_json::to_string(&entry).expect("entry serialises");
            if let Err(e) = writeln!(f, "{line}") {
                eprintln!("labsim journald: cannot write {}: {e}", path.display());
            }
        }
        let _ = self.tx.send(entry);
    }

    /// A systemd (PID 1) message about `unit`.
    pub fn systemd(&self, unit: &str, message: &str) {
        self.log(Some(unit), "systemd", 1, message);
    }

    /// Every stored entry matching `q`, in order, limited to the last `q.lines`.
    pub fn query(&self, q: &Query) -> Vec<Entry> {
        // Hold the lock so no entry is half-written while reading.
        let _st = self.state.lock().expect("journal lock");
        let files: Vec<PathBuf> = if q.units.is_empty() {
            Self::files(&self.dir)
        } else {
            q.units
                .iter()
                .map(|u| self.dir.join(format!("{}.jsonl", file_key(Some(u)))))
                .collect()
        };
        let mut all: Vec<Entry> = files
            .iter()
            .flat_map(|f| read_file(f))
            .filter(|e| q.matches(e))
            .collect();
        all.sort_by_key(|e| (e.ts_us, e.seq));
        all.dedup_by_key(|e| e.seq);
        if let Some(n) = q.lines {
            let skip = all.len().saturating_sub(n);
            all.drain(..skip);
        }
        all
    }

    /// Entries written from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Entry> {
        self.tx.subscribe()
    }
}

/// journald's `short` format: `Nov 28 04:38:54 minikube kubelet[648]: message` (local time,
/// `%b %d %H:%M:%S`; systemd `src/shared/logs-show.c output_short`).
pub fn format_short(e: &Entry, tz: &TimeZone, show_hostname: bool) -> String {
    let when = Timestamp::from_microsecond(e.ts_us)
        .map(|t| {
            t.to_zoned(tz.clone())
                .strftime("%b %d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| "??? ?? ??:??:??".to_string());
    if show_hostname {
        format!(
            "{when} {} {}[{}]: {}",
            e.hostname, e.ident, e.pid, e.message
        )
    } else {
        format!("{when} {}[{}]: {}", e.ident, e.pid, e.message)
    }
}

/// How a listing of entries is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `-o short` (default).
    Short,
    /// `-o cat`: the message only.
    Cat,
}

/// Formats a listing as journalctl does: one line per entry and, between entries of different
/// boots, a `-- Boot <id> --` line (systemd ≥ 250 prints no "-- Journal begins at … --" header;
/// with `-q` boot lines are left out, systemd `src/journal/journalctl.c`).
pub fn format_listing(
    entries: &[Entry],
    previous_boot: &mut Option<String>,
    tz: &TimeZone,
    output: Output,
    quiet: bool,
    show_hostname: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    for e in entries {
        if !quiet && previous_boot.as_ref().is_some_and(|b| b != &e.boot) {
            out.push(format!("-- Boot {} --", e.boot));
        }
        *previous_boot = Some(e.boot.clone());
        out.push(match output {
            Output::Short => format_short(e, tz, show_hostname),
            Output::Cat => e.message.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        seq: u64,
        ts: &str,
        boot: &str,
        unit: Option<&str>,
        ident: &str,
        pid: u32,
        msg: &str,
    ) -> Entry {
        Entry {
            seq,
            ts_us: ts.parse::<Timestamp>().unwrap().as_microsecond(),
            boot: boot.into(),
            hostname: "minikube-m02".into(),
            unit: unit.map(String::from),
            ident: ident.into(),
            pid,
            message: msg.into(),
        }
    }

    #[test]
    fn short_format_and_boot_separators() {
        let b1 = "0f4e7ad7a0c34c7e9b0c6d5b35a1e2a1";
        let b2 = "9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
        let es = vec![
            entry(
                1,
                "2024-11-28T04:38:44Z",
                b1,
                Some("kubelet.service"),
                "systemd",
                1,
                "Started kubelet.service - kubelet: The Kubernetes Node Agent.",
            ),
            entry(
                2,
                "2024-11-28T04:38:54.588330Z",
                b1,
                Some("kubelet.service"),
                "kubelet",
                648,
                "I1128 04:38:54.588330     648 scope.go:117] \"RemoveContainer\" containerID=\"27e\"",
            ),
            entry(
                3,
                "2024-11-28T05:00:01Z",
                b2,
                Some("kubelet.service"),
                "kubelet",
                512,
                "I1128 05:00:01.000001     512 server.go:487] \"Kubelet version\"",
            ),
        ];
        let mut prev = None;
        let lines = format_listing(&es, &mut prev, &TimeZone::UTC, Output::Short, false, true);
        insta::assert_snapshot!(lines.join("\n"), @r#"
        Nov 28 04:38:44 minikube-m02 systemd[1]: Started kubelet.service - kubelet: The Kubernetes Node Agent.
        Nov 28 04:38:54 minikube-m02 kubelet[648]: I1128 04:38:54.588330     648 scope.go:117] "RemoveContainer" containerID="27e"
        -- Boot 9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f --
        Nov 28 05:00:01 minikube-m02 kubelet[512]: I1128 05:00:01.000001     512 server.go:487] "Kubelet version"
        "#);
        let mut prev = None;
        let quiet = format_listing(&es, &mut prev, &TimeZone::UTC, Output::Cat, true, true);
        assert_eq!(quiet.len(), 3);
        assert!(quiet[0].starts_with("Started kubelet.service"));
        let day = entry(4, "2024-03-05T01:02:03Z", b1, None, "sshd", 7, "x");
        assert_eq!(
            format_short(&day, &TimeZone::UTC, false),
            "Mar 05 01:02:03 sshd[7]: x"
        );
    }

    #[test]
    fn stores_queries_and_survives_reopening() {
        let dir = std::env::temp_dir().join(format!(
            "labsim-journal-test-{}-{}",
            std::process::id(),
            Timestamp::now().as_nanosecond()
        ));
        struct Rm(PathBuf);
        impl Drop for Rm {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _rm = Rm(dir.clone());
        let j = Journal::open(&dir, "b1", "node").unwrap();
        j.systemd("a.service", "Started a.service - A.");
        j.log(Some("a.service"), "sh", 10, "hello");
        j.log(Some("b.service"), "sh", 11, "other");
        j.log(None, "labsim", 2, "boot");
        let a = j.query(&Query {
            units: vec!["a.service".into()],
            ..Query::default()
        });
        assert_eq!(
            a.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
            ["Started a.service - A.", "hello"]
        );
        assert_eq!(j.query(&Query::default()).len(), 4);
        let last = j.query(&Query {
            lines: Some(1),
            ..Query::default()
        });
        assert_eq!(last[0].message, "boot");
        drop(j);
        let j2 = Journal::open(&dir, "b2", "node").unwrap();
        j2.log(Some("a.service"), "sh", 20, "again");
        let a = j2.query(&Query {
            units: vec!["a.service".into()],
            ..Query::default()
        });
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].seq, 5, "sequence numbers continue after a reboot");
        let this_boot = j2.query(&Query {
            boot: Some("b2".into()),
            ..Query::default()
        });
        assert_eq!(this_boot.len(), 1);
        assert!(
            j2.query(&Query {
                units: vec!["none.service".into()],
                ..Query::default()
            })
            .is_empty()
        );
    }
}
