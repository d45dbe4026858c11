//! The pause container (kubernetes build/pause/linux/pause.c): waits for a signal. SIGINT and
//! SIGTERM make it print `Shutting down, got signal: <name>` (`psignal`) and exit 0; `-v` prints
//! `pause.c v<version>`. Other arguments are ignored, as pause.c ignores them.

use std::process::ExitCode;

use nix::sys::signal::{SigSet, Signal};

/// Runs pause; `version` is the image tag (`3.10`).
pub fn main(argv: &[String], version: &str) -> ExitCode {
    if argv.iter().skip(1).any(|a| a.eq_ignore_ascii_case("-v")) {
        println!("pause.c v{version}");
        return ExitCode::SUCCESS;
    }
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_err() {
        eprintln!("pause: cannot block SIGINT and SIGTERM to wait for them");
        return ExitCode::from(1);
    }
    match set.wait() {
        Ok(sig) => {
            let name = match sig {
                Signal::SIGINT => "Interrupt",
                _ => "Terminated",
            };
            eprintln!("Shutting down, got signal: {name}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: waiting for a signal failed: {e}");
            ExitCode::from(42)
        }
    }
}
