//! Labs runs on labsim killed at a random point, with SIGINT, SIGTERM and a double SIGINT, leave
//! nothing behind: no labsim profile, process (by PID and start time), mount, slot or host-files
//! directory. Seeded and reproducible: the seed is printed, `LABS_KILL_SEED=<seed>` replays the same
//! runs (signals, kill points). `LABS_KILL_RUNS` changes the number of runs (default 20).
//!
//! Long (about 20 minutes on two cores): ignored by default, run by `scripts/kill-test`.
//!
//! (A labsim profile deleted while its nodes are stopped leaves nothing either: labsim's own
//! `sim/tests/nodes.rs` `deleting_a_profile_whose_nodes_are_stopped`.)

mod common;

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::labs::{World, descendants};
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// splitmix64: a small, well-mixed, reproducible generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

#[derive(Debug, Clone, Copy)]
enum Kill {
    Int,
    Term,
    DoubleInt,
}

/// The earliest and latest kill points: from the first command to well into chapter 4 (a fast
/// full run takes about two and a half minutes here).
const KILL_FROM_MS: u64 = 200;
const KILL_UNTIL_MS: u64 = 100_000;
/// How long a killed run may take to clean up and exit.
const EXIT_WITHIN: Duration = Duration::from_secs(180);

#[test]
#[ignore = "long: about 20 minutes; run by scripts/kill-test"]
fn runs_killed_at_random_points_leave_nothing_behind() {
    let seed = std::env::var("LABS_KILL_SEED")
        .ok()
        .map(|s| s.parse::<u64>().expect("LABS_KILL_SEED is a number"))
        .unwrap_or_else(|| jiff::Timestamp::now().as_nanosecond().unsigned_abs() as u64);
    let runs: usize = std::env::var("LABS_KILL_RUNS")
        .ok()
        .map_or(20, |s| s.parse().expect("LABS_KILL_RUNS is a number"));
    eprintln!("kill test: seed {seed} (replay with LABS_KILL_SEED={seed}), {runs} runs");
    let mut rng = Rng(seed);
    let world = World::new("killed");
    let mut failures = Vec::new();
    let total = Instant::now();
    for run in 0..runs {
        let kill = [Kill::Int, Kill::Term, Kill::DoubleInt][run % 3];
        let at = rng.millis(KILL_FROM_MS, KILL_UNTIL_MS);
        let second = rng.millis(100, 3_000);
        let out = world.tmp.path().join(format!("run-{run}.log"));
        let log = std::fs::File::create(&out).unwrap();
        let mut child = world
            .command(run, &["--timing", "fast"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start the labs");
        let pid = child.id();
        let started = Instant::now();
        let mut seen = BTreeSet::new();
        let mut finished_first = None;
        while started.elapsed() < at {
            seen.extend(descendants(pid));
            if let Some(status) = child.try_wait().unwrap() {
                finished_first = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let killed_at = started.elapsed();
        let signalled = Instant::now();
        if finished_first.is_none() {
            seen.extend(descendants(pid));
            let p = Pid::from_raw(i32::try_from(pid).unwrap());
            match kill {
                Kill::Int => kill_(p, Signal::SIGINT),
                Kill::Term => kill_(p, Signal::SIGTERM),
                Kill::DoubleInt => {
                    kill_(p, Signal::SIGINT);
                    let until = Instant::now() + second;
                    while Instant::now() < until {
                        seen.extend(descendants(pid));
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    kill_(p, Signal::SIGINT);
                }
            }
        }
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if signalled.elapsed() > EXIT_WITHIN {
                let _ = killpg(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            seen.extend(descendants(pid));
            std::thread::sleep(Duration::from_millis(100));
        };
        let exit_took = signalled.elapsed();
        // The nodes' last processes may need a moment to be reaped by init.
        let mut left = world.leftovers(&seen);
        for _ in 0..20 {
            if left.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
            left = world.leftovers(&seen);
        }
        let code = status.and_then(|s| s.code());
        let expected = match (finished_first.is_some(), kill) {
            (true, _) => code == Some(0),
            (false, Kill::Term) => code == Some(143),
            (false, _) => code == Some(130),
        };
        let line = format!(
            "run {run:2}: {:<9} at {:>6.1} s -> {} in {:.1} s, {} processes seen, leftovers: {}",
            format!("{kill:?}"),
            killed_at.as_secs_f64(),
            match (finished_first, code) {
                (Some(_), c) => format!("finished first (exit {c:?})"),
                (None, Some(c)) => format!("exit {c}"),
                (None, None) => "no exit: SIGKILLed".into(),
            },
            exit_took.as_secs_f64(),
            seen.len(),
            if left.is_empty() {
                "none".into()
            } else {
                left.join("; ")
            },
        );
        eprintln!("{line}");
        if !left.is_empty() || !expected {
            let log = std::fs::read_to_string(&out).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!(
                "--- run {run} output (last lines) ---\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
            failures.push(line);
        }
    }
    eprintln!(
        "kill test: {runs} runs in {:.0} s, {} failed (seed {seed})",
        total.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "replay with LABS_KILL_SEED={seed}:\n{}",
        failures.join("\n")
    );
}

fn kill_(pid: Pid, signal: Signal) {
    // Already gone is fine: it finished in between.
    let _ = kill(pid, signal);
}

/// A step that outlives `--step-timeout` is stopped, fails saying what it was waiting for, and the
/// run still cleans up everything it created.
#[test]
fn a_timed_out_step_says_what_it_waited_for_and_leaves_nothing() {
    let world = World::new("timeout");
    let run = world.run(
        0,
        &[
            "--timing",
            "fast",
            "--step-timeout",
            "2s",
            "--input",
            "features/bootstrap.feature",
            "--name",
            "Bootstrap the primary node",
        ],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.all());
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("the step did not finish within 2 s (--step-timeout) and was stopped; it was waiting for "),
        "{}",
        run.all()
    );
    assert!(all.contains("raise --step-timeout"), "{}", run.all());
    for line in all
        .lines()
        .filter(|l| l.contains("did not finish") || l.contains("inside:"))
    {
        eprintln!("{line}");
    }
    assert_eq!(world.leftovers(&BTreeSet::new()), Vec::<String>::new());
}
