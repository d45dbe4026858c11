//! The audit log file: kube-apiserver's log backend writes one JSON event per line to
//! `--audit-log-path` through lumberjack (gopkg.in/natefinch/lumberjack.v2), which rotates the file
//! once it would grow past `--audit-log-maxsize` megabytes (lumberjack's default, 100, when 0),
//! renaming it to `<name>-<UTC time 2006-01-02T15-04-05.000><ext>` and then removing backups
//! beyond `--audit-log-maxbackup` (0: keep all) and older than `--audit-log-maxage` days (0: keep
//! all), judged by the time in their names. The directory is created 0700 and the files 0600
//! (apiserver/pkg/server/options/audit.go `ensureLogFile`): they hold request and response bodies.
//! `-` writes to standard output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Rotation settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// `--audit-log-maxsize` in megabytes (0: lumberjack's 100).
    pub max_size_mb: u64,
    /// `--audit-log-maxbackup` (0: keep every backup).
    pub max_backups: usize,
    /// `--audit-log-maxage` in days (0: keep every backup).
    pub max_age_days: u64,
}

/// Where events go.
#[derive(Debug)]
enum Sink {
    Stdout,
    File {
        path: PathBuf,
        file: Option<std::fs::File>,
        size: u64,
    },
}

/// The log writer (one line per event, serialised by a lock as lumberjack's mutex does).
#[derive(Debug)]
pub struct LogWriter {
    sink: Mutex<Sink>,
    rotation: Rotation,
}

/// lumberjack's backup time format.
const BACKUP_TIME: &str = "%Y-%m-%dT%H-%M-%S.%3f";

impl LogWriter {
    /// A writer for `--audit-log-path` (`-` is standard output). The file is created (0600, its
    /// directory 0700) right away, as `ensureLogFile` does at start-up.
    ///
    /// # Errors
    /// The I/O error creating the directory or the file.
    pub fn open(path: &str, rotation: Rotation) -> std::io::Result<LogWriter> {
        let sink = if path == "-" {
            Sink::Stdout
        } else {
            let path = PathBuf::from(path);
            let file = open_append(&path)?;
            let size = file.metadata()?.len();
            Sink::File {
                path,
                file: Some(file),
                size,
            }
        };
        Ok(LogWriter {
            sink: Mutex::new(sink),
            rotation,
        })
    }

    fn max_bytes(&self) -> u64 {
        let mb = if self.rotation.max_size_mb == 0 {
            100
        } else {
            self.rotation.max_size_mb
        };
        mb * 1024 * 1024
    }

    /// Appends one line (a newline is added), rotating first when the file would grow too large.
    ///
    /// # Errors
    /// The I/O error; a line longer than the maximum size is refused as lumberjack refuses it.
    pub fn write_line(&self, line: &str) -> std::io::Result<()> {
        let mut data = Vec::with_capacity(line.len() + 1);
        data.extend_from_slice(line.as_bytes());
        data.push(b'\n');
        let max = self.max_bytes();
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *sink {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&data)?;
                out.flush()
            }
            Sink::File { path, file, size } => {
                if data.len() as u64 > max {
                    return Err(std::io::Error::other(format!(
                        "write length {} exceeds maximum file size {max}",
                        data.len()
                    )));
                }
                if file.is_none() || *size + data.len() as u64 > max {
                    if file.is_some() {
                        file.take();
                        rotate(path, &self.rotation, jiff::Timestamp::now())?;
                    }
                    let f = open_append(path)?;
                    *size = f.metadata()?.len();
                    *file = Some(f);
                }
                let f = file.as_mut().expect("opened above");
                f.write_all(&data)?;
                *size += data.len() as u64;
                Ok(())
            }
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// The backup name lumberjack gives `path` at `t`: `audit.log` → `audit-2026-11-28T05-44-16.123.log`.
pub fn backup_name(path: &Path, t: jiff::Timestamp) -> PathBuf {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("audit.log");
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let ts = t.strftime(BACKUP_TIME).to_string();
    path.with_file_name(format!("{stem}-{ts}{ext}"))
}

/// The backups of `path` with their times, oldest first.
pub fn backups(path: &Path) -> Vec<(jiff::Timestamp, PathBuf)> {
    let Some(dir) = path.parent() else {
        return vec![];
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let prefix = format!("{stem}-");
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        let Some(ts) = f.strip_prefix(&prefix).and_then(|r| {
            r.strip_suffix(ext)
                .or(if ext.is_empty() { Some(r) } else { None })
        }) else {
            continue;
        };
        if let Ok(t) = jiff::civil::DateTime::strptime(BACKUP_TIME, ts)
            .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
        {
            out.push((t.timestamp(), e.path()));
        }
    }
    out.sort();
    out
}

/// Renames the current file to its backup name and removes backups the settings no longer keep
/// (lumberjack `rotate` and `millRunOnce`).
fn rotate(path: &Path, r: &Rotation, now: jiff::Timestamp) -> std::io::Result<()> {
    if path.exists() {
        std::fs::rename(path, backup_name(path, now))?;
    }
    let mut all = backups(path);
    if r.max_backups > 0 && all.len() > r.max_backups {
        let excess = all.len() - r.max_backups;
        for (_, p) in all.drain(..excess) {
            let _ = std::fs::remove_file(p);
        }
    }
    if r.max_age_days > 0 {
        let cutoff = now
            .checked_sub(jiff::SignedDuration::from_hours(24 * r.max_age_days as i64))
            .unwrap_or(now);
        for (t, p) in all {
            if t < cutoff {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_size_limit_and_keeps_max_backups() {
        let dir = std::env::temp_dir().join(format!("labsim-audit-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/audit.log");
        let w = LogWriter::open(
            path.to_str().unwrap(),
            Rotation {
                max_size_mb: 1,
                max_backups: 2,
                max_age_days: 0,
            },
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let line = "x".repeat(300 * 1024);
        for _ in 0..10 {
            w.write_line(&line).unwrap();
            // Backups are named to the millisecond.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        // 3 lines fit in 1 MiB; 10 lines make 3 rotations, of which 2 backups are kept.
        let kept = backups(&path);
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 300 * 1024 + 1);
        for (_, p) in &kept {
            assert_eq!(std::fs::metadata(p).unwrap().len(), 3 * (300 * 1024 + 1));
        }
        assert!(w.write_line(&"y".repeat(2 * 1024 * 1024)).is_err());
        let t: jiff::Timestamp = "2026-11-28T05:44:16.123Z".parse().unwrap();
        assert_eq!(
            backup_name(Path::new("/var/log/kubernetes/audit/audit.log"), t),
            PathBuf::from("/var/log/kubernetes/audit/audit-2026-11-28T05-44-16.123.log")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
