//! The runner against real processes: capture, exit codes, timeouts that kill the whole process
//! group, cancellation, background processes, and redacted transcripts.

mod common;

use std::time::Duration;

use common::{KillOnDrop, TempDir, alive, runner, transcript_entries, transcript_text};
use k8s_labs::redact::Redactor;
use k8s_labs::runner::{Command, RunError};
use k8s_labs::transcript::Ending;
use k8s_labs::wait::{Probe, Wait};

fn read_pid(path: &std::path::Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn captures_stdout_stderr_exit_code_and_env() {
    let tmp = TempDir::new("capture");
    let r = runner(tmp.path(), Redactor::new());
    let out = r
        .run(
            &Command::new("bash")
                .args(["-c", "echo out $LABS_TEST $EXTRA; echo err >&2; exit 7"])
                .env("EXTRA", "x"),
        )
        .await
        .unwrap();
    assert_eq!(out.ending, Ending::Exit(7));
    assert_eq!(out.stdout, "out 1 x\n");
    assert_eq!(out.stderr, "err\n");
    let entries = transcript_entries(tmp.path());
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["command"],
        "bash -c 'echo out $LABS_TEST $EXTRA; echo err >&2; exit 7'"
    );
    assert_eq!(entries[0]["ending"]["value"], 7);
    let txt = transcript_text(tmp.path());
    for field in [
        "COMMAND: ",
        "EXIT: 7",
        "DURATION: ",
        "STDOUT:\nout 1 x\n",
        "STDERR:\nerr\n",
    ] {
        assert!(txt.contains(field), "{field:?} missing in\n{txt}");
    }
}

#[tokio::test]
async fn run_ok_fails_on_non_zero_exit_with_the_output() {
    let tmp = TempDir::new("run-ok");
    let r = runner(tmp.path(), Redactor::new());
    let err = r
        .run_ok(&Command::new("bash").args(["-c", "echo nope; exit 3"]))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            RunError::Failed {
                ending: Ending::Exit(3),
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("nope"), "{msg}");
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let tmp = TempDir::new("spawn");
    let r = runner(tmp.path(), Redactor::new());
    let err = r
        .run(&Command::new("no-such-program-k8s-labs"))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Spawn { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("check that the program is installed"),
        "{err}"
    );
}

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let tmp = TempDir::new("timeout");
    let r = runner(tmp.path(), Redactor::new());
    let pidfile = tmp.path().join("child.pid");
    let script = format!(
        "sleep 300 & echo $! > {}; echo started; wait",
        pidfile.display()
    );
    let started = std::time::Instant::now();
    let err = r
        .run(
            &Command::new("bash")
                .args(["-c", &script])
                .timeout(Duration::from_millis(500)),
        )
        .await
        .unwrap_err();
    let child = read_pid(&pidfile);
    let _cleanup = KillOnDrop(child);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let RunError::TimedOut { after, tail, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*after, Duration::from_millis(500));
    assert_eq!(tail, "started\n");
    // The grandchild went with the group.
    let gone = Wait::until(format!("sleep {child} to die"), Duration::from_secs(5))
        .poll(|| async move {
            Ok::<_, String>(if alive(child) {
                Probe::Fails("alive".into())
            } else {
                Probe::Holds(())
            })
        })
        .await;
    assert!(gone.is_ok(), "{gone:?}");
    let entries = transcript_entries(tmp.path());
    assert_eq!(entries[0]["ending"]["kind"], "timed_out");
    assert_eq!(entries[0]["stdout"], "started\n");
}

#[tokio::test]
async fn dropping_the_call_kills_the_group_and_records_it() {
    let tmp = TempDir::new("cancel");
    let r = runner(tmp.path(), Redactor::new());
    let pidfile = tmp.path().join("child.pid");
    let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
    let cmd = Command::new("bash").args(["-c", &script]);
    let cancelled = tokio::time::timeout(Duration::from_millis(500), r.run(&cmd)).await;
    assert!(cancelled.is_err(), "the call should still be running");
    let child = read_pid(&pidfile);
    let _cleanup = KillOnDrop(child);
    let gone = Wait::until("the cancelled call's child to die", Duration::from_secs(5))
        .poll(|| async move {
            Ok::<_, String>(if alive(child) {
                Probe::Fails("alive".into())
            } else {
                Probe::Holds(())
            })
        })
        .await;
    assert!(gone.is_ok(), "{gone:?}");
    assert_eq!(
        transcript_entries(tmp.path())[0]["ending"]["kind"],
        "killed"
    );
}

#[tokio::test]
async fn background_process_streams_output_and_dies_with_its_handle() {
    let tmp = TempDir::new("background");
    let r = runner(tmp.path(), Redactor::new());
    let bg = r
        .spawn(&Command::new("bash").args([
            "-c",
            "echo Starting to serve on 127.0.0.1:8888; exec sleep 300",
        ]))
        .unwrap();
    let ready = Wait::until(
        "the background process to print its banner",
        Duration::from_secs(5),
    )
    .poll(|| {
        let out = bg.stdout();
        async move {
            Ok::<_, String>(if out.contains("Starting to serve") {
                Probe::Holds(out)
            } else {
                Probe::Fails(out)
            })
        }
    })
    .await
    .unwrap();
    assert_eq!(ready.value, "Starting to serve on 127.0.0.1:8888\n");
    assert_eq!(bg.exited().unwrap(), None);
    let output = bg.stop().await.unwrap();
    assert_eq!(output.ending, Ending::Killed);
    let entries = transcript_entries(tmp.path());
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["background"], true);
    assert_eq!(
        entries[0]["stdout"],
        "Starting to serve on 127.0.0.1:8888\n"
    );

    let pidfile = tmp.path().join("bg.pid");
    let bg = r
        .spawn(&Command::new("bash").args([
            "-c",
            &format!("echo $$ > {}; exec sleep 300", pidfile.display()),
        ]))
        .unwrap();
    let pid = Wait::until("the pid file", Duration::from_secs(5))
        .poll(|| {
            let p = pidfile.clone();
            async move {
                Ok::<_, String>(
                    match std::fs::read_to_string(&p)
                        .ok()
                        .and_then(|s| s.trim().parse::<i32>().ok())
                    {
                        Some(pid) => Probe::Holds(pid),
                        None => Probe::Fails("no pid yet".into()),
                    },
                )
            }
        })
        .await
        .unwrap()
        .value;
    let _cleanup = KillOnDrop(pid);
    drop(bg);
    let gone = Wait::until(
        "the dropped background process to die",
        Duration::from_secs(5),
    )
    .poll(|| async move {
        Ok::<_, String>(if alive(pid) {
            Probe::Fails("alive".into())
        } else {
            Probe::Holds(())
        })
    })
    .await;
    assert!(gone.is_ok(), "{gone:?}");
    assert_eq!(
        transcript_entries(tmp.path())[1]["ending"]["kind"],
        "killed"
    );
}

#[tokio::test]
async fn a_daemon_left_holding_the_pipes_does_not_hang_the_call() {
    let tmp = TempDir::new("daemon");
    let r = runner(tmp.path(), Redactor::new());
    // setsid: the daemon leaves the process group (as a node's init process does) but keeps stdout.
    let out = r
        .run(&Command::new("bash").args(["-c", "setsid sleep 30 & echo $!"]))
        .await
        .unwrap();
    let daemon: i32 = out.stdout.trim().parse().unwrap();
    let _cleanup = KillOnDrop(daemon);
    assert!(out.success());
    assert!(out.duration < Duration::from_secs(1), "{:?}", out.duration);
    assert!(
        alive(daemon),
        "a daemon outside the group survives a normal exit"
    );
    let note = &transcript_entries(tmp.path())[0]["note"];
    assert!(note.as_str().unwrap().contains("still held open"), "{note}");
}

#[tokio::test]
async fn transcripts_and_errors_are_redacted_but_callers_see_the_real_output() {
    let tmp = TempDir::new("redact");
    let redactor = Redactor::new();
    let r = runner(tmp.path(), redactor.clone());
    let script = "echo 'kubeadm join 10.0.0.1:8443 --token abcdef.0123456789abcdef'; echo 'client-key-data: S0VZ' >&2; exit 1";
    let out = r
        .run(&Command::new("bash").args(["-c", script]))
        .await
        .unwrap();
    assert!(
        out.stdout.contains("abcdef.0123456789abcdef"),
        "callers need the token"
    );
    redactor.register("S0VZ");
    let err = r
        .run_ok(&Command::new("bash").args(["-c", script]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains("0123456789abcdef") && !err.contains("S0VZ"),
        "{err}"
    );
    let txt = transcript_text(tmp.path());
    assert!(!txt.contains("0123456789abcdef"), "{txt}");
    assert!(!txt.contains("S0VZ"), "{txt}");
    assert!(txt.contains("<redacted:bootstrap-token>"), "{txt}");
}
