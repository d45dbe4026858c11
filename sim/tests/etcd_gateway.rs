//! The etcd gateway client against the real etcd started with kubeadm's flags; the real etcdctl
//! judges the TLS setup.

mod common;

use labsim::etcd::{RangeOptions, TxnOutcome, WatchEvent, WatchMessage};

#[tokio::test]
async fn gateway_client_against_real_etcd() {
    let dir = common::TempDir::new("etcd");
    let ip = common::unique_ip();
    common::pki(&dir.0, ip);
    let etcd = common::etcd(&dir.0, ip).await;
    let c = etcd.config().client().unwrap();

    let status = c.status().await.unwrap();
    assert!(status.version.starts_with("3."), "{status:?}");

    // create-if-absent
    let TxnOutcome::Done(r1) = c
        .create("/registry/pods/default/a", b"{\"v\":1}", 0)
        .await
        .unwrap()
    else {
        panic!("first create must succeed")
    };
    let TxnOutcome::Failed(Some(existing)) =
        c.create("/registry/pods/default/a", b"x", 0).await.unwrap()
    else {
        panic!("second create must fail")
    };
    assert_eq!(existing.mod_revision, r1);

    // watch from the current revision while we write
    let mut w = c.watch("/registry/pods/", true, r1 + 1).await.unwrap();

    // update-if-unchanged
    let TxnOutcome::Done(r2) = c
        .update("/registry/pods/default/a", b"{\"v\":2}", r1)
        .await
        .unwrap()
    else {
        panic!("update at the right revision must succeed")
    };
    assert!(
        matches!(c.update("/registry/pods/default/a", b"{}", r1).await.unwrap(), TxnOutcome::Failed(Some(kv)) if kv.mod_revision == r2)
    );
    c.put("/registry/pods/kube-system/b", b"{}").await.unwrap();
    c.put("/registry/services/specs/default/k", b"{}")
        .await
        .unwrap();

    let all = c
        .range(
            "/registry/pods/",
            &RangeOptions {
                prefix: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        all.kvs.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(),
        ["/registry/pods/default/a", "/registry/pods/kube-system/b"]
    );
    assert_eq!(all.count, 2);
    let page = c
        .range(
            "/registry/pods/",
            &RangeOptions {
                prefix: true,
                limit: 1,
                keys_only: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(page.more && page.kvs.len() == 1 && page.kvs[0].value.is_empty());
    let old = c
        .range(
            "/registry/pods/default/a",
            &RangeOptions {
                revision: r1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(old.kvs[0].value, b"{\"v\":1}");

    // delete-if-unchanged
    assert!(matches!(
        c.delete_if("/registry/pods/default/a", r1).await.unwrap(),
        TxnOutcome::Failed(_)
    ));
    let TxnOutcome::Done(r4) = c.delete_if("/registry/pods/default/a", r2).await.unwrap() else {
        panic!()
    };

    let mut seen = vec![];
    while seen.len() < 3 {
        match tokio::time::timeout(std::time::Duration::from_secs(5), w.next())
            .await
            .unwrap()
            .unwrap()
        {
            WatchMessage::Events { events, .. } => seen.extend(events),
            WatchMessage::Progress(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        matches!(&seen[0], WatchEvent::Put { kv, prev: Some(p) } if kv.mod_revision == r2 && p.mod_revision == r1)
    );
    assert!(
        matches!(&seen[1], WatchEvent::Put { kv, prev: None } if kv.key == "/registry/pods/kube-system/b")
    );
    assert!(
        matches!(&seen[2], WatchEvent::Delete { kv, prev: Some(p) } if kv.mod_revision == r4 && p.value == b"{\"v\":2}")
    );

    // compaction: a watch or read from before it reports Compacted
    c.compact(r4).await.unwrap();
    let mut w2 = c.watch("/registry/pods/", true, r1).await.unwrap();
    assert!(matches!(w2.next().await, Some(WatchMessage::Compacted(rev)) if rev == r4));
    assert!(matches!(
        c.range(
            "/registry/pods/",
            &RangeOptions {
                prefix: true,
                revision: r1,
                ..Default::default()
            }
        )
        .await,
        Err(labsim::etcd::EtcdError::Compacted { .. })
    ));

    // leases
    let lease = c.lease_grant(60).await.unwrap();
    assert!(matches!(
        c.create("/registry/events/default/e", b"{}", lease)
            .await
            .unwrap(),
        TxnOutcome::Done(_)
    ));
    c.lease_revoke(lease).await.unwrap();
    assert!(
        c.get("/registry/events/default/e")
            .await
            .unwrap()
            .1
            .is_none()
    );

    // the real etcdctl with the healthcheck-client certificate sees our keys; without one it fails
    let pki = dir.0.join("pki");
    let endpoints = format!("--endpoints={}", etcd.config().client_url());
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &endpoints,
            &format!("--cacert={}", pki.join("etcd/ca.crt").display()),
            &format!(
                "--cert={}",
                pki.join("etcd/healthcheck-client.crt").display()
            ),
            &format!(
                "--key={}",
                pki.join("etcd/healthcheck-client.key").display()
            ),
            "get",
            "/registry",
            "--prefix",
            "--keys-only",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "/registry/pods/kube-system/b\n\n/registry/services/specs/default/k\n\n"
    );
    let out = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args([
            &endpoints,
            &format!("--cacert={}", pki.join("etcd/ca.crt").display()),
            "--command-timeout=3s",
            "get",
            "/registry",
            "--prefix",
            "--keys-only",
        ])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "etcdctl without a client certificate must fail: {out:?}"
    );
}

#[test]
fn apiserver_rejects_unknown_flags_like_cobra() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_labsim"))
        .args([
            "kube-apiserver",
            "--advertise-address=127.0.0.1",
            "--pod-eviction-timeout=5m",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("Usage:\n  kube-apiserver [flags]\n"),
        "{err}"
    );
    assert!(
        err.trim_end()
            .ends_with("Error: unknown flag: --pod-eviction-timeout"),
        "{err}"
    );
}
