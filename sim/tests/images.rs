//! The image programs run as labsim's runtime runs them: `labsim image run` with the environment
//! of docs/labsim.md ("Containers and images"), a temporary directory as the node's files and
//! loopback addresses of a slot taken from the real slot registry. The judges are real programs:
//! curl for HTTP, the real kubectl (and etcdctl) for API and etcd state.

mod common;

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Cluster, TempDir};
use labsim::net::{SlotRegistry, pod_host_addr};

/// A slot of the machine-wide registry, released on drop.
struct Slot {
    slot: u8,
    owner: TempDir,
}

impl Slot {
    fn take() -> Slot {
        let owner = TempDir::new("slot-owner");
        let slot = SlotRegistry::default().allocate(&owner.0).unwrap();
        Slot { slot, owner }
    }

    /// Where the pod `10.244.n.m` is served.
    fn pod(&self, n: u8, m: u8) -> IpAddr {
        IpAddr::V4(pod_host_addr(self.slot, Ipv4Addr::new(10, 244, n, m)).unwrap())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = SlotRegistry::default().release(self.slot, &self.owner.0);
    }
}

/// A container process, killed on drop.
struct Container {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
    name: String,
}

/// A mount: container path, node path, read-only.
type MountSpec<'a> = (&'a str, &'a Path, bool);

fn run_image(
    dir: &Path,
    name: &str,
    image: &str,
    argv: &[&str],
    mounts: &[MountSpec<'_>],
    env: &[(&str, String)],
) -> Container {
    let out = dir.join(format!("{name}.stdout"));
    let err = dir.join(format!("{name}.stderr"));
    let mounts: Vec<serde_json::Value> = mounts
        .iter()
        .map(|(c, h, ro)| {
            serde_json::json!({"containerPath": c, "hostPath": h.display().to_string(), "readonly": ro})
        })
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_labsim"));
    cmd.args(["image", "run"])
        .env("LABSIM_IMAGE", image)
        .env("LABSIM_ARGV", serde_json::to_string(argv).unwrap())
        .env("LABSIM_MOUNTS", serde_json::to_string(&mounts).unwrap())
        .env("LABSIM_CONTAINER_ID", "0".repeat(64))
        .env_remove("HOSTNAME")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    Container {
        child: Some(cmd.spawn().unwrap()),
        out,
        err,
        name: name.to_string(),
    }
}

impl Container {
    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
    fn logs(&self) -> String {
        format!(
            "--- {} stdout\n{}--- {} stderr\n{}",
            self.name,
            self.stdout(),
            self.name,
            self.stderr()
        )
    }

    /// Waits for the process to exit by itself.
    fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit\n{}",
                self.name,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// SIGTERM, as the kubelet stops a container, then waits.
    fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.child.as_ref().unwrap().id() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        self.wait(timeout)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// curl, returning (exit code, HTTP code, body).
fn curl(url: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (
        out.status.code().unwrap_or(-1),
        code.to_string(),
        body.to_string(),
    )
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn pause_waits_for_a_signal_and_says_which() {
    let dir = TempDir::new("img-pause");
    let mut c = run_image(
        &dir.0,
        "pause",
        "registry.k8s.io/pause:3.10",
        &["/pause"],
        &[],
        &[],
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(c.running(), "pause keeps running\n{}", c.logs());
    let st = c.terminate(Duration::from_secs(5));
    assert!(st.success(), "{st}");
    assert_eq!(c.stderr(), "Shutting down, got signal: Terminated\n");
    let mut v = run_image(
        &dir.0,
        "pause-v",
        "registry.k8s.io/pause:3.9",
        &["/pause", "-v"],
        &[],
        &[],
    );
    assert!(v.wait(Duration::from_secs(5)).success());
    assert_eq!(v.stdout(), "pause.c v3.9\n");
}

#[test]
fn an_argv_the_image_cannot_start_fails_as_runc_does() {
    let dir = TempDir::new("img-runc");
    let mut c = run_image(
        &dir.0,
        "bash",
        "ghcr.io/learnk8s/podinfo:2023.03",
        &["bash", "-c", "true"],
        &[],
        &[],
    );
    assert_eq!(c.wait(Duration::from_secs(5)).code(), Some(128));
    assert!(
        c.stderr()
            .contains("exec: \"bash\": executable file not found in $PATH"),
        "{}",
        c.logs()
    );
    let mut c = run_image(
        &dir.0,
        "sh",
        "ghcr.io/learnk8s/podinfo:2023.03",
        &["sh"],
        &[],
        &[],
    );
    assert_eq!(c.wait(Duration::from_secs(5)).code(), Some(127));
    assert!(
        c.stderr()
            .contains("sh of image ghcr.io/learnk8s/podinfo:2023.03 is not implemented")
    );
}

#[test]
fn podinfo_answers_on_its_pod_address() {
    let dir = TempDir::new("img-podinfo");
    let slot = Slot::take();
    let ip = slot.pod(1, 7);
    let mut c = run_image(
        &dir.0,
        "podinfo",
        "ghcr.io/learnk8s/podinfo:2023.03",
        &["./podinfo"],
        &[],
        &[
            ("LABSIM_BIND_IP", ip.to_string()),
            ("LABSIM_POD_IP", "10.244.1.7".into()),
            ("LABSIM_SLOT", slot.slot.to_string()),
            ("HOSTNAME", "hello-world-5d6cfd9db8-jjrn5".into()),
            ("PODINFO_UI_COLOR", "#34577c".into()),
        ],
    );
    let url = format!("http://{ip}:9898/");
    wait_until("podinfo to listen", Duration::from_secs(10), || {
        curl(&url, &[]).1 == "200"
    });
    let (_, code, body) = curl(&url, &[]);
    assert_eq!(code, "200");
    let v = json(&body);
    assert_eq!(v["hostname"], "hello-world-5d6cfd9db8-jjrn5");
    assert_eq!(v["version"], "6.3.4");
    assert_eq!(v["message"], "greetings from podinfo v6.3.4");
    assert_eq!(v["color"], "#34577c");
    assert!(
        body.starts_with("{\n  \"hostname\": "),
        "indented by two spaces: {body}"
    );
    assert!(!body.ends_with('\n'));
    let (_, _, html) = curl(&url, &["-A", "Mozilla/5.0"]);
    assert!(
        html.contains("<title>hello-world-5d6cfd9db8-jjrn5</title>"),
        "{html}"
    );
    assert_eq!(json(&curl(&format!("{url}healthz"), &[]).2)["status"], "OK");
    assert_eq!(json(&curl(&format!("{url}readyz"), &[]).2)["status"], "OK");
    assert_eq!(
        json(&curl(&format!("{url}version"), &[]).2)["version"],
        "6.3.4"
    );
    let env = json(&curl(&format!("{url}env"), &[]).2);
    let env: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(env.contains(&"HOSTNAME=hello-world-5d6cfd9db8-jjrn5"));
    assert!(
        !env.iter().any(|e| e.starts_with("LABSIM_")),
        "labsim's contract is not the container's environment"
    );
    let headers = json(&curl(&format!("{url}headers"), &["-H", "X-Request-Id: 42"]).2);
    assert_eq!(headers["X-Request-Id"][0], "42");
    assert_eq!(headers["X-Api-Version"][0], "6.3.4");
    let (_, code, body) = curl(&format!("{url}nope"), &[]);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("404", "404 page not found\n")
    );
    let (_, code, _) = curl(&format!("{url}status/418"), &[]);
    assert_eq!(code, "418");

    // SIGTERM: readiness goes first, then podinfo exits 0 after its 3 s drain.
    let started = Instant::now();
    let pid = c.child.as_ref().unwrap().id() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    wait_until("readyz to fail", Duration::from_secs(2), || {
        curl(&format!("{url}readyz"), &[]).1 == "503"
    });
    let st = c.wait(Duration::from_secs(15));
    assert!(st.success(), "{st}\n{}", c.logs());
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "podinfo waits 3 s before closing"
    );
    let log = c.stderr();
    let lines: Vec<serde_json::Value> = log.lines().map(json).collect();
    assert_eq!(lines[0]["msg"], "Starting podinfo");
    assert_eq!(
        lines[0]["revision"],
        "1abc44f0d8dd6cd9df76090ea4ad694b70e03ee4"
    );
    assert_eq!(lines[1]["msg"], "Starting HTTP Server.");
    assert_eq!(lines[1]["addr"], ":9898");
    assert_eq!(lines[2]["msg"], "Shutting down HTTP/HTTPS server");
    assert_eq!(lines[2]["timeout"], 5);

    let mut bad = run_image(
        &dir.0,
        "podinfo-bad",
        "ghcr.io/learnk8s/podinfo:2023.03",
        &["./podinfo", "--nope"],
        &[],
        &[],
    );
    assert_eq!(bad.wait(Duration::from_secs(5)).code(), Some(2));
    assert!(bad.stderr().starts_with("Error: unknown flag: --nope\n\n"));
    assert!(bad.stderr().contains("      --port int"));
}

#[test]
fn flannel_s_init_containers_write_the_node_s_cni_plugin_and_config() {
    let dir = TempDir::new("img-cni");
    let node = dir.0.join("node");
    let bin = node.join("opt/cni/bin");
    let netd = node.join("etc/cni/net.d");
    let cfg = node.join("var/lib/kubelet/pods/u1/volumes/kubernetes.io~configmap/flannel-cfg");
    for d in [&bin, &netd, &cfg] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The ConfigMap volume as the kubelet writes it: files behind ..data.
    let data = cfg.join("..2026_01_01_00_00_00.123");
    std::fs::create_dir_all(&data).unwrap();
    let conflist = "{\n  \"name\": \"cbr0\",\n  \"cniVersion\": \"0.3.1\",\n  \"plugins\": []\n}\n";
    std::fs::write(data.join("cni-conf.json"), conflist).unwrap();
    std::os::unix::fs::symlink("..2026_01_01_00_00_00.123", cfg.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/cni-conf.json", cfg.join("cni-conf.json")).unwrap();

    let mut plugin = run_image(
        &dir.0,
        "install-cni-plugin",
        "ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1",
        &["cp", "-f", "/flannel", "/opt/cni/bin/flannel"],
        &[("/opt/cni/bin", &bin, false)],
        &[],
    );
    assert!(
        plugin.wait(Duration::from_secs(5)).success(),
        "{}",
        plugin.logs()
    );
    let out = Command::new(bin.join("flannel")).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CNI flannel plugin v1.6.2-flannel1"));

    let mut conf = run_image(
        &dir.0,
        "install-cni",
        "ghcr.io/flannel-io/flannel:v0.26.7",
        &[
            "cp",
            "-f",
            "/etc/kube-flannel/cni-conf.json",
            "/etc/cni/net.d/10-flannel.conflist",
        ],
        &[
            ("/etc/cni/net.d", &netd, false),
            ("/etc/kube-flannel/", &cfg, false),
        ],
        &[],
    );
    assert!(
        conf.wait(Duration::from_secs(5)).success(),
        "{}",
        conf.logs()
    );
    assert_eq!(
        std::fs::read_to_string(netd.join("10-flannel.conflist")).unwrap(),
        conflist
    );
    assert!(
        !netd.join("10-flannel.conflist").is_symlink(),
        "a copy, not the link"
    );
}

/// A service account's in-cluster credentials, written where the pod's projected volume would be.
fn service_account(cluster: &Cluster, dir: &Path, ns: &str, name: &str) -> PathBuf {
    cluster.ok(&["create", "namespace", ns]);
    cluster.ok(&["create", "serviceaccount", name, "-n", ns]);
    let token = cluster.ok(&["create", "token", name, "-n", ns, "--duration=1h"]);
    let sa = dir.join(format!("sa-{ns}-{name}"));
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), token.trim()).unwrap();
    std::fs::copy(cluster.dir.0.join("pki/ca.crt"), sa.join("ca.crt")).unwrap();
    std::fs::write(sa.join("namespace"), ns).unwrap();
    sa
}

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn node_manifest(name: &str, ip: &str, pod_cidr: Option<&str>) -> String {
    let cidr = pod_cidr
        .map(|c| format!("spec:\n  podCIDR: {c}\n  podCIDRs: [{c}]\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n  labels:\n    kubernetes.io/hostname: {name}\n{cidr}status:\n  addresses:\n  - type: InternalIP\n    address: {ip}\n  - type: Hostname\n    address: {name}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flanneld_writes_subnet_env_annotates_the_node_and_sets_its_network_available() {
    let cluster = Cluster::start("1.33").await;
    let dir = TempDir::new("img-flannel");
    let node_ip = cluster.ip.to_string();
    cluster.apply(&node_manifest(
        "minikube-m02",
        &node_ip,
        Some("10.244.1.0/24"),
    ));
    cluster.apply(&node_manifest("minikube-m03", &node_ip, None));
    let sa = service_account(&cluster, &dir.0, "kube-flannel", "flannel");
    for (pod, node) in [
        ("kube-flannel-ds-abcde", "minikube-m02"),
        ("kube-flannel-ds-fghij", "minikube-m03"),
    ] {
        cluster.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  namespace: kube-flannel\nspec:\n  serviceAccountName: flannel\n  nodeName: {node}\n  hostNetwork: true\n  containers:\n  - name: kube-flannel\n    image: ghcr.io/flannel-io/flannel:v0.26.7\n"
        ));
    }
    let cfg = dir.0.join("flannel-cfg");
    let run = dir.0.join("run-flannel");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        cfg.join("net-conf.json"),
        "{\n  \"Network\": \"10.244.0.0/16\",\n  \"EnableNFTables\": false,\n  \"Backend\": {\n    \"Type\": \"vxlan\"\n  }\n}\n",
    )
    .unwrap();
    let env = |pod: &str| {
        vec![
            ("LABSIM_APISERVER", cluster.server()),
            ("LABSIM_BIND_IP", node_ip.clone()),
            ("LABSIM_NODE_IP", node_ip.clone()),
            ("POD_NAME", pod.to_string()),
            ("POD_NAMESPACE", "kube-flannel".to_string()),
            ("EVENT_QUEUE_DEPTH", "5000".to_string()),
        ]
    };
    let mounts: Vec<MountSpec> = vec![
        ("/run/flannel", &run, false),
        ("/etc/kube-flannel/", &cfg, true),
        (SA_DIR, &sa, true),
    ];
    let argv = ["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"];
    let mut f = run_image(
        &dir.0,
        "flanneld",
        "ghcr.io/flannel-io/flannel:v0.26.7",
        &argv,
        &mounts,
        &env("kube-flannel-ds-abcde"),
    );
    let subnet = run.join("subnet.env");
    wait_until("subnet.env", Duration::from_secs(20), || {
        subnet.exists() || !f.running()
    });
    assert_eq!(
        std::fs::read_to_string(&subnet).unwrap_or_else(|_| f.logs()),
        "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"
    );
    // The real kubectl reads what flanneld patched.
    wait_until("NetworkUnavailable=False", Duration::from_secs(10), || {
        cluster
            .kubectl(&[
                "get",
                "node",
                "minikube-m02",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"NetworkUnavailable\")].reason}",
            ])
            .1
            == "FlannelIsUp"
    });
    let node = json(&cluster.ok(&["get", "node", "minikube-m02", "-o", "json"]));
    let a = &node["metadata"]["annotations"];
    assert_eq!(a["flannel.alpha.coreos.com/backend-type"], "vxlan");
    assert_eq!(a["flannel.alpha.coreos.com/kube-subnet-manager"], "true");
    assert_eq!(a["flannel.alpha.coreos.com/public-ip"], node_ip.as_str());
    let bd = json(a["flannel.alpha.coreos.com/backend-data"].as_str().unwrap());
    assert_eq!(bd["VNI"], 1);
    let cond = node["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "NetworkUnavailable")
        .unwrap();
    assert_eq!(cond["status"], "False");
    assert_eq!(cond["message"], "Flannel is running on this node");
    assert!(f.running(), "flanneld keeps watching\n{}", f.logs());
    let log = f.stderr();
    assert!(log.starts_with("I"), "{log}");
    assert!(
        log.lines()
            .next()
            .unwrap()
            .contains("main.go:211] CLI flags config: {etcdEndpoints:")
    );
    assert!(log.contains("Created subnet manager: Kubernetes Subnet Manager - minikube-m02"));
    assert!(log.contains("Found network config - Backend type: vxlan"));
    assert!(log.contains("Wrote subnet file to /run/flannel/subnet.env"));
    assert!(log.contains("labsim: no VXLAN device"));
    let st = f.terminate(Duration::from_secs(10));
    assert!(st.success(), "{st}");
    assert!(f.stderr().contains("Exiting cleanly..."));

    // A node without a pod CIDR: flanneld fails as it does on a real cluster.
    let run3 = dir.0.join("run-flannel-3");
    std::fs::create_dir_all(&run3).unwrap();
    let mounts3: Vec<MountSpec> = vec![
        ("/run/flannel", &run3, false),
        ("/etc/kube-flannel/", &cfg, true),
        (SA_DIR, &sa, true),
    ];
    let mut g = run_image(
        &dir.0,
        "flanneld-3",
        "ghcr.io/flannel-io/flannel:v0.26.7",
        &argv,
        &mounts3,
        &env("kube-flannel-ds-fghij"),
    );
    assert_eq!(
        g.wait(Duration::from_secs(20)).code(),
        Some(1),
        "{}",
        g.logs()
    );
    assert!(
        g.stderr()
            .contains("Error registering network: failed to acquire lease: node \"minikube-m03\" pod cidr not assigned"),
        "{}",
        g.logs()
    );
    assert!(!run3.join("subnet.env").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_routes_an_ingress_to_podinfo_and_keeps_routing_without_the_api_server() {
    let mut cluster = Cluster::start("1.33").await;
    let dir = TempDir::new("img-traefik");
    let slot = Slot::take();
    let sa = service_account(&cluster, &dir.0, "traefik", "traefik");
    let podinfo_ip = slot.pod(1, 2);
    let mut podinfo = run_image(
        &dir.0,
        "podinfo",
        "ghcr.io/learnk8s/podinfo:2023.03",
        &["./podinfo"],
        &[],
        &[
            ("LABSIM_BIND_IP", podinfo_ip.to_string()),
            ("HOSTNAME", "hello-world-6b8f7d-x2x7p".into()),
        ],
    );
    let traefik_ip = slot.pod(2, 3);
    let mut traefik = run_image(
        &dir.0,
        "traefik",
        "docker.io/library/traefik:v3.3.4",
        &[
            "/entrypoint.sh",
            "--entryPoints.web.address=:80",
            "--providers.kubernetesingress",
            "--ping",
            "--log.level=INFO",
        ],
        &[(SA_DIR, &sa, true)],
        &[
            ("LABSIM_BIND_IP", traefik_ip.to_string()),
            ("LABSIM_POD_IP", "10.244.2.3".into()),
            ("LABSIM_SLOT", slot.slot.to_string()),
            ("LABSIM_APISERVER", cluster.server()),
            ("HOSTNAME", "traefik-7xkq2".into()),
        ],
    );
    let web = format!("http://{traefik_ip}/");
    let ping = format!("http://{traefik_ip}:8080/ping");
    wait_until("traefik's ping", Duration::from_secs(10), || {
        curl(&ping, &[]).1 == "200"
    });
    assert_eq!(curl(&ping, &[]).2, "OK");
    // No Ingress yet: Go's 404, byte for byte (CLI-REFERENCE.md §9).
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "5", &web])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(text.starts_with("HTTP/1.1 404 Not Found\n"), "{text}");
    assert!(
        text.contains("\nContent-Type: text/plain; charset=utf-8\n"),
        "{text}"
    );
    assert!(
        text.contains("\nX-Content-Type-Options: nosniff\n"),
        "{text}"
    );
    assert!(text.contains("\nContent-Length: 19\n"), "{text}");
    assert!(text.ends_with("\n\n404 page not found\n"), "{text}");

    cluster.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello\n  namespace: default\nspec:\n  selector:\n    app: hello\n  ports:\n  - protocol: TCP\n    port: 80\n    targetPort: 9898\n",
    );
    cluster.apply(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: hello-abcde\n  namespace: default\n  labels:\n    kubernetes.io/service-name: hello\naddressType: IPv4\nports:\n- name: \"\"\n  port: 9898\n  protocol: TCP\nendpoints:\n- addresses: [10.244.1.2]\n  conditions:\n    ready: true\n",
    );
    // The course's Ingress (`/`, Prefix, to Service hello port 80), as the fixture has it.
    let manifests = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fixtures/manifests/hello-world.yaml"
    ))
    .unwrap();
    let ingress = manifests
        .split("\n---\n")
        .find(|d| d.contains("kind: Ingress"))
        .unwrap();
    cluster.apply(ingress);
    wait_until("the Ingress to route", Duration::from_secs(10), || {
        curl(&web, &[]).1 == "200"
    });
    let v = json(&curl(&web, &[]).2);
    assert_eq!(v["hostname"], "hello-world-6b8f7d-x2x7p");
    let headers = json(&curl(&format!("{web}headers"), &["-H", "Host: hello.example"]).2);
    assert_eq!(headers["X-Forwarded-Host"][0], "hello.example");
    assert_eq!(headers["X-Forwarded-Server"][0], "traefik-7xkq2");
    assert_eq!(headers["X-Forwarded-Proto"][0], "http");

    // The API server goes away: traefik keeps its routes.
    cluster.stop_apiserver();
    std::thread::sleep(Duration::from_millis(500));
    let (_, code, body) = curl(&web, &[]);
    assert_eq!(code, "200", "{}", traefik.logs());
    assert_eq!(json(&body)["hostname"], "hello-world-6b8f7d-x2x7p");
    // The backend goes away too: 502 Bad Gateway.
    podinfo.terminate(Duration::from_secs(15));
    let (_, code, body) = curl(&web, &[]);
    assert_eq!((code.as_str(), body.as_str()), ("502", "Bad Gateway"));

    // The API server returns: traefik resyncs and follows changes again.
    cluster.start_apiserver(&[]).await;
    cluster.ok(&["delete", "ingress", "hello"]);
    wait_until("the route to go", Duration::from_secs(15), || {
        curl(&web, &[]).1 == "404"
    });
    assert!(traefik.running());
    let st = traefik.terminate(Duration::from_secs(15));
    assert!(st.success(), "{st}");
    let log = traefik.stderr();
    for line in [
        "Traefik version 3.3.4 built on",
        "Starting provider *ingress.Provider",
        "Creating in-cluster Provider client",
        "I have to go...",
        "Stopping server gracefully",
        "Server stopped",
        "Shutting down",
    ] {
        assert!(log.contains(line), "{line:?} in\n{log}");
    }
}

/// A DNS query for `name` (type A, class IN), written out by hand so that the test does not judge
/// labsim's DNS code with itself.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coredns_serves_services_health_and_ready() {
    let cluster = Cluster::start("1.33").await;
    let dir = TempDir::new("img-coredns");
    let slot = Slot::take();
    let sa = service_account(&cluster, &dir.0, "dns-test", "coredns");
    cluster.apply(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: hello\n  namespace: default\nspec:\n  ports:\n  - port: 80\n",
    );
    let ip = cluster.ok(&[
        "get",
        "service",
        "hello",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let cfg = dir.0.join("coredns-cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("Corefile"),
        ".:53 {\n    errors\n    health {\n       lameduck 1s\n    }\n    ready\n    kubernetes cluster.local in-addr.arpa ip6.arpa {\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }\n    prometheus :9153\n    forward . /etc/resolv.conf {\n       max_concurrent 1000\n    }\n    cache 30\n    loop\n    reload\n    loadbalance\n}\n",
    )
    .unwrap();
    let pod = slot.pod(0, 2);
    let mut c = run_image(
        &dir.0,
        "coredns",
        "registry.k8s.io/coredns/coredns:v1.12.0",
        &["/coredns", "-conf", "/etc/coredns/Corefile"],
        &[("/etc/coredns", &cfg, true), (SA_DIR, &sa, true)],
        &[
            ("LABSIM_BIND_IP", pod.to_string()),
            ("LABSIM_APISERVER", cluster.server()),
        ],
    );
    wait_until("CoreDNS ready", Duration::from_secs(15), || {
        curl(&format!("http://{pod}:8181/ready"), &[]).1 == "200"
    });
    assert_eq!(curl(&format!("http://{pod}:8080/health"), &[]).2, "OK");
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(
        &dns_query(0x4242, "hello.default.svc.cluster.local"),
        (pod, 53),
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..2], &[0x42, 0x42]);
    assert_eq!(buf[3] & 0x0f, 0, "NOERROR");
    assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 1, "one answer");
    let want: Ipv4Addr = ip.parse().unwrap();
    assert_eq!(&buf[n - 4..n], &want.octets(), "the Service's ClusterIP");
    sock.send_to(&dns_query(7, "nope.default.svc.cluster.local"), (pod, 53))
        .unwrap();
    let _ = sock.recv(&mut buf).unwrap();
    assert_eq!(buf[3] & 0x0f, 3, "NXDOMAIN");
    let out = c.stdout();
    assert!(out.contains(".:53\n"), "{out}");
    assert!(
        out.contains("[INFO] plugin/reload: Running configuration SHA512 = "),
        "{out}"
    );
    assert!(out.contains("CoreDNS-1.12.0\nlinux/"), "{out}");
    assert!(c.terminate(Duration::from_secs(10)).success());
    assert!(
        c.stdout()
            .contains("[INFO] SIGTERM: Shutting down servers then terminating")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_proxy_reads_its_config_and_serves_healthz_on_the_node_ip() {
    let cluster = Cluster::start("1.33").await;
    let dir = TempDir::new("img-kube-proxy");
    let node_ip = cluster.ip.to_string();
    cluster.apply(&node_manifest("minikube", &node_ip, Some("10.244.0.0/24")));
    let sa = service_account(&cluster, &dir.0, "proxy-test", "kube-proxy");
    let cfg = dir.0.join("kube-proxy-cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(
        cfg.join("config.conf"),
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nbindAddress: 0.0.0.0\nclientConnection:\n  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf\nclusterCIDR: 10.244.0.0/16\nhealthzBindAddress: \"\"\nmetricsBindAddress: \"\"\nmode: \"\"\n",
    )
    .unwrap();
    let mut p = run_image(
        &dir.0,
        "kube-proxy",
        "registry.k8s.io/kube-proxy:v1.33.7",
        &[
            "/usr/local/bin/kube-proxy",
            "--config=/var/lib/kube-proxy/config.conf",
            "--hostname-override=minikube",
        ],
        &[("/var/lib/kube-proxy", &cfg, true), (SA_DIR, &sa, true)],
        &[
            ("LABSIM_BIND_IP", node_ip.clone()),
            ("LABSIM_NODE_IP", node_ip.clone()),
            ("LABSIM_APISERVER", cluster.server()),
        ],
    );
    // kubeadm's config leaves healthzBindAddress empty: kube-proxy's default 0.0.0.0:10256.
    let url = format!("http://{node_ip}:10256/healthz");
    wait_until("kube-proxy healthz", Duration::from_secs(15), || {
        curl(&url, &[]).1 == "200"
    });
    let v = json(&curl(&url, &[]).2);
    assert_eq!(v["nodeEligible"], true);
    assert!(v["lastUpdated"].as_str().unwrap().ends_with(" +0000 UTC"));
    assert_eq!(
        curl(&format!("http://{node_ip}:10249/proxyMode"), &[]).2,
        "iptables"
    );
    let log = p.stderr();
    assert!(
        log.contains("\"Successfully retrieved node IP(s)\" IPs=[\""),
        "{log}"
    );
    assert!(
        log.contains("\"Version info\" version=\"v1.33.7\""),
        "{log}"
    );
    assert!(log.contains("labsim: no proxier"), "{log}");
    assert!(p.terminate(Duration::from_secs(10)).success());
    let mut bad = run_image(
        &dir.0,
        "kube-proxy-bad",
        "registry.k8s.io/kube-proxy:v1.33.7",
        &["kube-proxy", "--nope"],
        &[],
        &[],
    );
    assert_eq!(bad.wait(Duration::from_secs(5)).code(), Some(1));
    assert!(
        bad.stderr()
            .trim_end()
            .ends_with("Error: unknown flag: --nope")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_image_runs_kubeadm_1_34_flags_on_the_installed_etcd() {
    let dir = TempDir::new("img-etcd");
    let ip = common::unique_ip();
    common::pki(&dir.0, ip);
    let pki = |f: &str| dir.0.join("pki").join(f).display().to_string();
    let data = dir.0.join("etcd-data");
    let args = vec![
        "etcd".to_string(),
        format!("--advertise-client-urls=https://{ip}:2379"),
        format!("--cert-file={}", pki("etcd/server.crt")),
        "--client-cert-auth=true".into(),
        format!("--data-dir={}", data.display()),
        "--feature-gates=InitialCorruptCheck=true".into(),
        format!("--initial-advertise-peer-urls=https://{ip}:2380"),
        format!("--initial-cluster=minikube=https://{ip}:2380"),
        format!("--key-file={}", pki("etcd/server.key")),
        format!("--listen-client-urls=https://127.0.0.1:2379,https://{ip}:2379"),
        "--listen-metrics-urls=http://127.0.0.1:2381".into(),
        format!("--listen-peer-urls=https://{ip}:2380"),
        "--name=minikube".into(),
        format!("--peer-cert-file={}", pki("etcd/peer.crt")),
        "--peer-client-cert-auth=true".into(),
        format!("--peer-key-file={}", pki("etcd/peer.key")),
        format!("--peer-trusted-ca-file={}", pki("etcd/ca.crt")),
        "--snapshot-count=10000".into(),
        format!("--trusted-ca-file={}", pki("etcd/ca.crt")),
        "--watch-progress-notify-interval=5s".into(),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut e = run_image(
        &dir.0,
        "etcd",
        "registry.k8s.io/etcd:3.6.5-0",
        &argv,
        &[],
        &[("LABSIM_NODE_IP", ip.to_string())],
    );
    let health = || {
        Command::new("etcdctl")
            .args([
                &format!("--endpoints=https://{ip}:2379"),
                &format!("--cacert={}", pki("etcd/ca.crt")),
                &format!("--cert={}", pki("etcd/healthcheck-client.crt")),
                &format!("--key={}", pki("etcd/healthcheck-client.key")),
                "endpoint",
                "health",
            ])
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap()
    };
    wait_until("etcd healthy", Duration::from_secs(20), || {
        health().status.success() || !e.running()
    });
    let out = health();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        e.logs()
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("is healthy"), "{text}");
    let log = e.stderr();
    assert!(log.contains("labsim: --feature-gates=InitialCorruptCheck=true is --experimental-initial-corrupt-check=true"), "{log}");
    assert!(
        log.contains("listens on the node IP instead of 127.0.0.1"),
        "{log}"
    );
    assert!(
        log.contains("\"level\":\"info\""),
        "etcd logs zap JSON: {log}"
    );
    // The metrics URL answers as etcd 3.5.11+/3.6's (kubeadm ≥ 1.31 probes /livez and /readyz):
    // the real etcd's /health and /metrics, and the health checks on top of them.
    let metrics = format!("http://{ip}:2381");
    let (_, code, body) = curl(&format!("{metrics}/livez"), &[]);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200", "ok\n"),
        "{}",
        e.logs()
    );
    let (_, code, body) = curl(&format!("{metrics}/readyz?verbose"), &[]);
    assert_eq!(code, "200");
    assert_eq!(
        body,
        "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n"
    );
    let (_, code, body) = curl(
        &format!("{metrics}/readyz?verbose&exclude=linearizable_read"),
        &[],
    );
    assert_eq!(
        (code.as_str(), body.as_str()),
        (
            "200",
            "[+]data_corruption ok\n[+]serializable_read ok\nok\n"
        )
    );
    let (_, code, body) = curl(&format!("{metrics}/readyz/linearizable_read"), &[]);
    assert_eq!((code.as_str(), body.as_str()), ("200", "ok\n"));
    let (_, code, body) = curl(&format!("{metrics}/livez"), &["-X", "POST"]);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("405", "Method Not Allowed\n")
    );
    let (_, code, body) = curl(&format!("{metrics}/health"), &[]);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200", "{\"health\":\"true\"}")
    );
    let (_, code, body) = curl(&format!("{metrics}/metrics"), &[]);
    assert_eq!(code, "200");
    assert!(body.contains("etcd_server_has_leader 1"), "{body}");
    let (_, code, body) = curl(&format!("{metrics}/livez/nope"), &[]);
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("404", "404 page not found\n")
    );
    // etcd re-raises SIGTERM after closing (pkg/osutil HandleInterrupts): it dies of the signal.
    use std::os::unix::process::ExitStatusExt;
    let st = e.terminate(Duration::from_secs(10));
    assert!(st.success() || st.signal() == Some(15), "{st}");
    // The front dies with etcd.
    wait_until("the metrics URL closes", Duration::from_secs(5), || {
        std::net::TcpStream::connect((ip, 2381)).is_err()
    });
}

#[test]
fn the_etcd_metrics_front_fails_the_checks_while_etcd_does_not_answer() {
    let ip = common::unique_ip();
    let port = std::net::TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut front = Command::new(env!("CARGO_BIN_EXE_labsim"))
        .args([
            "image",
            "etcd-metrics",
            "--backend",
            &format!("{ip}:1"),
            "--listen",
            &format!("{ip}:{port}"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(front.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready, "ready\n");
    let (_, code, body) = curl(&format!("http://{ip}:{port}/readyz"), &[]);
    let _ = front.kill();
    let _ = front.wait();
    assert_eq!(code, "503");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 4, "{body}");
    for (line, check) in
        lines
            .iter()
            .zip(["data_corruption", "serializable_read", "linearizable_read"])
    {
        assert!(
            line.starts_with(&format!("[-]{check} failed: cannot connect to {ip}:1")),
            "{body}"
        );
    }
    assert_eq!(lines[3], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kube_apiserver_image_runs_labsim_s_api_server_as_its_tag_s_version() {
    let mut cluster = Cluster::start("1.33").await;
    cluster.stop_apiserver();
    let dir = TempDir::new("img-apiserver");
    let mut argv = vec!["kube-apiserver".to_string()];
    argv.extend(cluster.apiserver_args(&[]));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut a = run_image(
        &dir.0,
        "kube-apiserver",
        "registry.k8s.io/kube-apiserver:v1.30.14",
        &argv,
        &[],
        &[],
    );
    wait_until("the API server", Duration::from_secs(20), || {
        cluster
            .curl(&[
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("{}/readyz", cluster.server()),
            ])
            .1
            == "200"
            || !a.running()
    });
    let v = json(&cluster.ok(&["version", "-o", "json"]));
    assert_eq!(v["serverVersion"]["gitVersion"], "v1.30.14", "{}", a.logs());
    assert!(a.terminate(Duration::from_secs(10)).code().is_some());
}
