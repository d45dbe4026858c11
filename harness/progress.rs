//! Live progress on the terminal during long waits and long commands: what is awaited, how long
//! it has been, and the budget. On a terminal one line on stderr is rewritten in place (at most
//! once a second) and cleared when the wait ends; otherwise (CI logs) a plain line is printed every
//! N seconds (`LABS_PROGRESS_EVERY`, default 30), so a log shows that a long wait is alive without
//! drowning in it. Waits shorter than a few seconds print nothing. Every line is redacted.
//!
//! Progress is off until [`install`]ed (the labs entry installs it; tests and tools stay quiet).

use std::future::Future;
use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::claims::human;
use crate::redact::Redactor;

/// Environment variable: seconds between progress lines when stderr is not a terminal.
pub const EVERY_ENV: &str = "LABS_PROGRESS_EVERY";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line rewritten in place.
    Terminal,
    /// A line every so often.
    Lines {
        /// The interval.
        every: Duration,
    },
}

/// Where progress goes, how, and from how long a wait on.
pub struct Progress {
    mode: Mode,
    quiet_for: Duration,
    redactor: Redactor,
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("mode", &self.mode)
            .field("quiet_for", &self.quiet_for)
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Progress> = OnceLock::new();

/// Installs the process's progress reporter (the first call wins).
pub fn install(progress: Progress) {
    let _ = GLOBAL.set(progress);
}

impl Progress {
    /// Progress on stderr: rewritten in place on a terminal, else a line every
    /// `LABS_PROGRESS_EVERY` seconds (default 30).
    #[must_use]
    pub fn stderr(redactor: Redactor) -> Self {
        let mode = if std::io::stderr().is_terminal() {
            Mode::Terminal
        } else {
            let every = std::env::var(EVERY_ENV)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|s| *s > 0)
                .unwrap_or(30);
            Mode::Lines {
                every: Duration::from_secs(every),
            }
        };
        Self::new(mode, redactor, Box::new(std::io::stderr()))
    }

    /// Progress in `mode` to `out`, silent for the first 5 s of a wait.
    #[must_use]
    pub fn new(mode: Mode, redactor: Redactor, out: Box<dyn Write + Send>) -> Self {
        Self {
            mode,
            quiet_for: Duration::from_secs(5),
            redactor,
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// Starts following one wait.
    #[must_use]
    pub fn begin(&self, what: &str, budget: Option<Duration>) -> Activity<'_> {
        Activity {
            slot: crate::deadline::begin(what, budget),
            progress: Some(self),
            what: what.to_string(),
            budget,
            started: Instant::now(),
            last_print: None,
            on_screen: false,
        }
    }

    fn emit(&self, text: &str) {
        let text = self.redactor.redact(text);
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Follows the installed reporter, or nothing when none is installed.
#[must_use]
pub fn begin(what: &str, budget: Option<Duration>) -> Activity<'static> {
    match GLOBAL.get() {
        Some(p) => p.begin(what, budget),
        None => Activity {
            slot: crate::deadline::begin(what, budget),
            progress: None,
            what: String::new(),
            budget,
            started: Instant::now(),
            last_print: None,
            on_screen: false,
        },
    }
}

/// Runs `fut`, reporting it as `what` (with `budget`) every second while it runs.
pub async fn track<F: Future>(what: &str, budget: Option<Duration>, fut: F) -> F::Output {
    let mut activity = begin(what, budget);
    if let Some(slot) = &activity.slot {
        slot.update("running");
    }
    if activity.progress.is_none() {
        return fut.await;
    }
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            out = &mut fut => return out,
            _ = tick.tick() => activity.update("running"),
        }
    }
}

/// One wait being followed (also for the step's deadline, [`crate::deadline`]). Dropping it
/// clears its line on a terminal.
pub struct Activity<'a> {
    slot: Option<crate::deadline::Slot>,
    progress: Option<&'a Progress>,
    what: String,
    budget: Option<Duration>,
    started: Instant,
    last_print: Option<Instant>,
    on_screen: bool,
}

impl std::fmt::Debug for Activity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity")
            .field("what", &self.what)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Keeps a terminal line short.
fn clip(text: &str, max: usize) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut s: String = one_line.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

impl Activity<'_> {
    /// Reports the latest state seen; prints when due.
    pub fn update(&mut self, state: &str) {
        if let Some(slot) = &self.slot {
            slot.update(state);
        }
        let Some(progress) = self.progress else {
            return;
        };
        let now = Instant::now();
        let elapsed = now - self.started;
        if elapsed < progress.quiet_for {
            return;
        }
        let budget = self
            .budget
            .map(|b| format!(" of {}", human(b)))
            .unwrap_or_default();
        match progress.mode {
            Mode::Terminal => {
                if self
                    .last_print
                    .is_some_and(|t| now - t < Duration::from_secs(1))
                {
                    return;
                }
                let line = clip(
                    &format!(
                        "⏳ {}: {}{budget} — {state}",
                        self.what,
                        human(whole(elapsed))
                    ),
                    150,
                );
                progress.emit(&format!("\r\x1b[2K{line}"));
                self.on_screen = true;
            }
            Mode::Lines { every } => {
                let due = match self.last_print {
                    None => elapsed >= every,
                    Some(t) => now - t >= every,
                };
                if !due {
                    return;
                }
                progress.emit(&format!(
                    "k8s-labs: still waiting for {}: {}{budget}; last seen: {}\n",
                    self.what,
                    human(whole(elapsed)),
                    clip(state, 300)
                ));
            }
        }
        self.last_print = Some(now);
    }
}

/// Whole seconds (progress shows no fractions).
fn whole(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

impl Drop for Activity<'_> {
    fn drop(&mut self) {
        if self.on_screen
            && let Some(p) = self.progress
        {
            p.emit("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn ci_logs_get_a_line_every_interval_after_the_quiet_start() {
        let sink = Sink::default();
        let redactor = Redactor::new();
        redactor.register("s3cr3t");
        let p = Progress::new(
            Mode::Lines {
                every: Duration::from_secs(30),
            },
            redactor,
            Box::new(sink.clone()),
        );
        let mut a = p.begin("node k8s-labs-m03 NotReady", Some(Duration::from_secs(65)));
        for _ in 0..70 {
            a.update("Ready=True s3cr3t");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        drop(a);
        assert_eq!(
            sink.text(),
            "k8s-labs: still waiting for node k8s-labs-m03 NotReady: 30 s of 1 min 5 s; last seen: Ready=True <redacted>\n\
             k8s-labs: still waiting for node k8s-labs-m03 NotReady: 1 min of 1 min 5 s; last seen: Ready=True <redacted>\n"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_terminal_line_is_rewritten_and_cleared() {
        let sink = Sink::default();
        let p = Progress::new(Mode::Terminal, Redactor::new(), Box::new(sink.clone()));
        let mut a = p.begin("pods Running", None);
        for _ in 0..13 {
            a.update("2 of 5");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        drop(a);
        let text = sink.text();
        assert_eq!(
            text.matches("⏳ pods Running").count(),
            2,
            "once a second from 5 s: {text:?}"
        );
        assert!(
            text.starts_with("\r\x1b[2K⏳ pods Running: 5 s — 2 of 5"),
            "{text:?}"
        );
        assert!(text.ends_with("\r\x1b[2K"), "{text:?}");
        let quiet = Progress::new(Mode::Terminal, Redactor::new(), Box::new(sink.clone()));
        let mut short = quiet.begin("short", None);
        short.update("x");
        drop(short);
        assert_eq!(sink.text(), text, "a short wait prints nothing");
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_printed_when_not_installed() {
        let out = track("x", None, async { 7 }).await;
        assert_eq!(out, 7);
        let mut a = begin("x", None);
        a.update("y");
    }
}
