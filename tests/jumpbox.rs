//! The jumpbox: on labsim the host's real curl reaches a node IP (here a small HTTP server on
//! loopback answering as traefik does); on the real path, an unreachable Docker daemon gives a
//! clear error instead of a hang (the check runs in a child process with its own DOCKER_HOST).

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use common::{TempDir, runner, transcript_text};
use k8s_labs::jumpbox::{Jumpbox, JumpboxError};
use k8s_labs::redact::Redactor;
use k8s_labs::settings::ProviderKind;

/// Answers every connection once with traefik's reply to an unknown route (CLI-REFERENCE.md §9).
fn traefik_like_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf).unwrap();
        let body = "404 page not found\n";
        write!(
            conn,
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    (addr, handle)
}

#[tokio::test]
async fn on_labsim_the_jumpbox_is_the_host_and_its_curl_is_recorded() {
    let tmp = TempDir::new("jumpbox");
    let jumpbox = Jumpbox::for_provider(
        ProviderKind::Labsim,
        "unused",
        runner(tmp.path(), Redactor::new()),
        &k8s_labs::cleanup::Registry::new(),
    )
    .await
    .unwrap();
    let (addr, server) = traefik_like_server();
    let reply = jumpbox.curl(&addr.to_string()).await.unwrap();
    server.join().unwrap();
    assert_eq!(reply.curl_exit, 0, "{reply:?}");
    assert_eq!(reply.status, Some(404));
    assert_eq!(reply.body, "404 page not found\n");

    // Nothing listens on the port any more: curl's own failure, not an error of the jumpbox.
    let refused = jumpbox.curl(&addr.to_string()).await.unwrap();
    assert_eq!(
        (refused.curl_exit, refused.status),
        (7, None),
        "{refused:?}"
    );
    assert!(refused.error.contains("Failed to connect"), "{refused:?}");

    let txt = transcript_text(tmp.path());
    assert!(txt.contains("curl -sS --max-time 10"), "{txt}");
    assert!(txt.contains("from the jumpbox"), "{txt}");
    jumpbox.stop().await.unwrap();
}

/// The child half of the test below: runs only when the parent sets the variable.
#[tokio::test]
async fn child_start_container_without_docker() {
    if std::env::var_os("K8S_LABS_JUMPBOX_CHILD").is_none() {
        return;
    }
    let tmp = TempDir::new("jumpbox-child");
    let err = Jumpbox::start_container("minikube", runner(tmp.path(), Redactor::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, JumpboxError::DockerUnreachable { .. }),
        "{err}"
    );
    println!("JUMPBOX ERROR: {err}");
}

#[test]
fn without_a_docker_daemon_the_real_jumpbox_says_so() {
    let tmp = TempDir::new("jumpbox-nodocker");
    let socket = tmp.path().join("no-docker.sock");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_start_container_without_docker",
            "--nocapture",
        ])
        .env("K8S_LABS_JUMPBOX_CHILD", "1")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("JUMPBOX ERROR: "))
        .unwrap_or_else(|| panic!("the child ran the check: {stdout}"));
    assert!(
        line.contains("the jumpbox needs Docker, and the Docker daemon does not answer"),
        "{line}"
    );
    assert!(line.contains("run with --provider labsim"), "{line}");
}
