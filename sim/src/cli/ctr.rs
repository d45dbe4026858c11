//! `ctr` (containerd's own CLI, `cmd/ctr`) against labsim's runtime: `containers list`,
//! `tasks list`, `tasks kill`, `images list`, `version`, with ctr's syntax, its
//! `tabwriter(4, 8, 4, ' ')` tables whose rows end with a tab (hence the trailing padding), and its
//! errors (`ctr: …`, exit 1). CLI-REFERENCE.md §4.

use std::path::Path;

use super::gofmt::{TabWriter, bytes_binary};
use crate::runtime::client::{RuntimeClientError, call_blocking};
use crate::runtime::cri::{CtrContainer, CtrTask, Reply, Request};

/// containerd's default address.
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";

/// The `ctr containers list` table.
pub fn render_containers(items: &[CtrContainer]) -> String {
    let mut w = TabWriter::new(4, 4);
    w.write("CONTAINER\tIMAGE\tRUNTIME\t\n");
    for c in items {
        w.write(&format!("{}\t{}\t{}\t\n", c.id, c.image, c.runtime));
    }
    w.flush()
}

/// The `ctr tasks list` table.
pub fn render_tasks(items: &[CtrTask]) -> String {
    let mut w = TabWriter::new(4, 4);
    w.write("TASK\tPID\tSTATUS\t\n");
    for t in items {
        w.write(&format!("{}\t{}\t{}\t\n", t.id, t.pid, t.status));
    }
    w.flush()
}

/// A signal given to `ctr tasks kill -s`: a number, `SIGKILL` or `KILL` (containerd
/// `sys.ParseSignal`).
pub fn parse_signal(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok().map(|_| n);
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .ok()
        .map(|sig| sig as i32)
}

struct Ctr {
    address: String,
    namespace: String,
}

/// Go's `flag` package error for a flag nobody defined (always one dash).
fn undefined_flag(arg: &str) -> String {
    let name = arg.trim_start_matches('-');
    let name = name.split_once('=').map_or(name, |(n, _)| n);
    format!("flag provided but not defined: -{name}")
}

/// The flags of the `list` subcommands: `--quiet`/`-q` (filters are positional).
fn list_quiet(rest: &[String]) -> Result<bool, String> {
    let mut quiet = false;
    for a in rest {
        match a.as_str() {
            "-q" | "--quiet" | "-q=true" | "--quiet=true" => quiet = true,
            "-q=false" | "--quiet=false" => quiet = false,
            "--" => break,
            other if other.starts_with('-') && other.len() > 1 => {
                return Err(undefined_flag(other));
            }
            _ => {}
        }
    }
    Ok(quiet)
}

impl Ctr {
    fn call(&self, req: Request) -> Result<Reply, String> {
        call_blocking(Path::new(&self.address), &req).map_err(|e| match e {
            RuntimeClientError::Connect { path, reason } => format!(
                "failed to dial {:?}: connection error: desc = \"transport: error while dialing: dial unix {}: connect: {reason}\"",
                self.address,
                path.display()
            ),
            RuntimeClientError::Rpc(r) => r.message,
            other => other.to_string(),
        })
    }
}

fn containers(ctr: &Ctr, args: &[String]) -> Result<(), String> {
    let (sub, rest) = args.split_first().ok_or("")?;
    match sub.as_str() {
        "list" | "ls" => {
            let quiet = list_quiet(rest)?;
            let Reply::CtrContainers { items } = ctr.call(Request::CtrContainers {
                namespace: ctr.namespace.clone(),
            })?
            else {
                return Err("unexpected reply".into());
            };
            if quiet {
                for c in items {
                    println!("{}", c.id);
                }
            } else {
                print!("{}", render_containers(&items));
            }
            Ok(())
        }
        other => Err(format!(
            "labsim's ctr implements `containers list` only, not {other:?}"
        )),
    }
}

fn tasks(ctr: &Ctr, args: &[String]) -> Result<(), String> {
    let (sub, rest) = args.split_first().ok_or("")?;
    match sub.as_str() {
        "list" | "ls" => {
            let quiet = list_quiet(rest)?;
            let Reply::CtrTasks { items } = ctr.call(Request::CtrTasks {
                namespace: ctr.namespace.clone(),
            })?
            else {
                return Err("unexpected reply".into());
            };
            if quiet {
                for t in items {
                    println!("{}", t.id);
                }
            } else {
                print!("{}", render_tasks(&items));
            }
            Ok(())
        }
        "kill" => {
            let mut signal = libc_sigterm();
            let mut all = false;
            let mut id = None;
            let mut i = 0;
            while i < rest.len() {
                let a = rest[i].as_str();
                let (name, inline) = match a.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (a, None),
                };
                match name {
                    "-s" | "--signal" => {
                        let v = match inline {
                            Some(v) => v,
                            None => {
                                i += 1;
                                rest.get(i)
                                    .cloned()
                                    .ok_or("flag needs an argument: -signal")?
                            }
                        };
                        signal = parse_signal(&v).ok_or_else(|| format!("invalid signal {v:?}"))?;
                    }
                    "-a" | "--all" => all = true,
                    _ if a.starts_with('-') => return Err(undefined_flag(a)),
                    _ => id = Some(a.to_string()),
                }
                i += 1;
            }
            let id = id.ok_or("container id must be provided")?;
            ctr.call(Request::CtrKill {
                namespace: ctr.namespace.clone(),
                id,
                signal,
                all,
            })?;
            Ok(())
        }
        other => Err(format!(
            "labsim's ctr implements `tasks list` and `tasks kill` only, not {other:?}"
        )),
    }
}

fn libc_sigterm() -> i32 {
    nix::sys::signal::Signal::SIGTERM as i32
}

fn images(ctr: &Ctr, args: &[String]) -> Result<(), String> {
    let (sub, rest) = args.split_first().ok_or("")?;
    match sub.as_str() {
        "list" | "ls" => {
            let quiet = list_quiet(rest)?;
            let items = if ctr.namespace == crate::runtime::K8S_NAMESPACE {
                let Reply::Images { items } = ctr.call(Request::ListImages)? else {
                    return Err("unexpected reply".into());
                };
                items
            } else {
                vec![]
            };
            // The CRI plugin records each image under its tags, its repo digest and its ID.
            let mut rows: Vec<(String, String, u64)> = vec![];
            for i in &items {
                let digest = i
                    .repo_digests
                    .first()
                    .and_then(|d| d.split_once('@'))
                    .map(|(_, d)| d.to_string())
                    .unwrap_or_else(|| i.id.clone());
                for r in i.repo_tags.iter().chain(&i.repo_digests) {
                    rows.push((r.clone(), digest.clone(), i.size));
                }
                rows.push((i.id.clone(), digest, i.size));
            }
            rows.sort();
            if quiet {
                for (r, _, _) in rows {
                    println!("{r}");
                }
                return Ok(());
            }
            let mut w = TabWriter::new(4, 4);
            w.write("REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t\n");
            for (r, d, size) in rows {
                w.write(&format!(
                    "{r}\tapplication/vnd.oci.image.index.v1+json\t{d}\t{}\tlinux/amd64\tio.cri-containerd.image=managed\t\n",
                    bytes_binary(size)
                ));
            }
            print!("{}", w.flush());
            Ok(())
        }
        other => Err(format!(
            "labsim's ctr implements `images list` only, not {other:?}"
        )),
    }
}

/// Runs `ctr ARGS`; returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let mut namespace = std::env::var("CONTAINERD_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".into());
    let mut address = std::env::var("CONTAINERD_ADDRESS")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_ADDRESS.into());
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let a = args[i].as_str();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a, None),
        };
        let value = |i: &mut usize| -> Option<String> {
            inline.clone().or_else(|| {
                *i += 1;
                args.get(*i).cloned()
            })
        };
        match name {
            "-n" | "--namespace" => match value(&mut i) {
                Some(v) => namespace = v,
                None => return fail("flag needs an argument: -namespace"),
            },
            "-a" | "--address" => match value(&mut i) {
                Some(v) => address = v,
                None => return fail("flag needs an argument: -address"),
            },
            "--debug" => {}
            "--timeout" | "--connect-timeout" => {
                let _ = value(&mut i);
            }
            "-h" | "--help" => {
                println!(
                    "NAME:\n   ctr - \n        __\n  _____/ /______\n / ___/ __/ ___/\n/ /__/ /_/ /\n\\___/\\__/_/\n\ncontainerd CLI\n\nlabsim implements: containers list, tasks list, tasks kill, images list, version"
                );
                return 0;
            }
            other => return fail(&undefined_flag(other)),
        }
        i += 1;
    }
    let Some(cmd) = args.get(i) else {
        println!(
            "NAME:\n   ctr - containerd CLI (labsim implements: containers list, tasks list, tasks kill, images list, version)"
        );
        return 0;
    };
    let node = match crate::node::NodeInfo::current("ctr") {
        Ok(n) => n,
        Err(_) => {
            return fail(
                "this is labsim's ctr, which works only inside a running labsim node (/etc/labsim/node.json not found): run it there, e.g. `minikube ssh -- sudo ctr -n k8s.io containers list`",
            );
        }
    };
    let ctr = Ctr { address, namespace };
    let rest = &args[i + 1..];
    let r = match cmd.as_str() {
        "containers" | "container" | "c" => containers(&ctr, rest),
        "tasks" | "task" | "t" => tasks(&ctr, rest),
        "images" | "image" | "i" => images(&ctr, rest),
        "version" => match ctr.call(Request::Version) {
            Ok(Reply::Version(_)) => {
                let (v, r) = (
                    crate::runtime::CONTAINERD_VERSION,
                    crate::runtime::CONTAINERD_REVISION,
                );
                println!(
                    "Client:\n  Version:  {v}\n  Revision: {r}\n  Go version: labsim\n\nServer:\n  Version:  {v}\n  Revision: {r}\n  UUID: {}",
                    node.node
                );
                Ok(())
            }
            Ok(_) => Err("unexpected reply".into()),
            Err(e) => Err(e),
        },
        other => Err(format!("No help topic for '{other}'")),
    };
    match r {
        Ok(()) => 0,
        Err(e) if e.is_empty() => {
            println!("NAME:\n   ctr {cmd} - (labsim) give a subcommand, e.g. `ctr {cmd} list`");
            0
        }
        Err(e) => fail(&e),
    }
}

fn fail(msg: &str) -> u8 {
    eprintln!("ctr: {msg}");
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_every_column() {
        let cs = vec![
            CtrContainer {
                id: "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a".into(),
                image: "registry.k8s.io/pause:3.10".into(),
                runtime: "io.containerd.runc.v2".into(),
            },
            CtrContainer {
                id: "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0".into(),
                image: "ghcr.io/learnk8s/podinfo:2023.03".into(),
                runtime: "io.containerd.runc.v2".into(),
            },
        ];
        insta::assert_snapshot!("ctr_containers", render_containers(&cs));
        let ts = vec![CtrTask {
            id: "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a".into(),
            pid: 4127,
            status: "RUNNING".into(),
        }];
        insta::assert_snapshot!("ctr_tasks", render_tasks(&ts));
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(parse_signal("SIGKILL"), Some(9));
        assert_eq!(parse_signal("kill"), Some(9));
        assert_eq!(parse_signal("15"), Some(15));
        assert_eq!(parse_signal("TERM"), Some(15));
        assert_eq!(parse_signal("NOPE"), None);
    }
}
