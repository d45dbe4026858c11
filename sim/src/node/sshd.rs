//! The node's stand-in sshd (`/opt/labsim/bin/sshd -D`, run by `ssh.service`): listens on the
//! node's IP, port 22, and greets with the banner of the OpenSSH that minikube's Debian-bookworm
//! kicbase ships, so that "the node answers on its IP" is observable and stops with the node. It
//! does not log anyone in: `minikube ssh` enters nodes through their namespaces.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use super::NodeInfo;

/// The identification string sent to every client (RFC 4253 section 4.2).
pub const BANNER: &str = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u7";

/// Entry point: `sshd -D`.
pub fn main(args: Vec<String>) -> ExitCode {
    for a in &args {
        if a != "-D" && a != "-e" {
            eprintln!("sshd: labsim's stand-in sshd accepts only -D and -e (got {a:?})");
            return ExitCode::from(255);
        }
    }
    let info = match NodeInfo::current("sshd") {
        Ok(i) => i,
        Err(e) => {
            eprintln!("sshd: {e}");
            return ExitCode::from(255);
        }
    };
    // OpenSSH's messages when the port is taken (sshd.c server_listen).
    let listener = match TcpListener::bind((info.ip, 22)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: Bind to port 22 on {} failed: {e}.", info.ip);
            eprintln!("fatal: Cannot bind any address.");
            return ExitCode::from(255);
        }
    };
    println!("Server listening on {} port 22.", info.ip);
    for conn in listener.incoming() {
        let Ok(stream) = conn else { continue };
        std::thread::spawn(move || greet(stream));
    }
    ExitCode::SUCCESS
}

fn greet(mut stream: TcpStream) {
    let peer = stream.peer_addr().ok();
    let _ = stream.write_all(format!("{BANNER}\r\n").as_bytes());
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).unwrap_or(0);
    let said = String::from_utf8_lossy(&buf[..n]);
    let (ip, port) = peer
        .map(|p| (p.ip().to_string(), p.port()))
        .unwrap_or_else(|| ("unknown".into(), 0));
    if said.starts_with("SSH-") {
        println!(
            "Connection closed by {ip} port {port} [preauth] (labsim: this sshd only greets; log in with `minikube ssh`)"
        );
    } else {
        println!("Connection closed by {ip} port {port}");
    }
}
