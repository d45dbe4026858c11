//! BusyBox `cp` as the Alpine-based images run it (flannel's `install-cni-plugin` and
//! `install-cni` init containers): sources and destination are container paths, read and written
//! through the container's mounts; a source may also be a file of the image itself
//! ([`ImageSpec::file`]). A container path that no volume covers is the image's own filesystem,
//! which labsim does not have: writing there fails and says so.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::catalog::{ImageSpec, normalize};
use super::contract::Mounts;

/// BusyBox 1.36's usage text for cp.
const USAGE: &str = "BusyBox v1.36.1 (2023-07-27 17:12:24 UTC) multi-call binary.

Usage: cp [-arPLHpfinlsTu] SOURCE DEST
or: cp [-arPLHpfinlsu] SOURCE... { -t DIRECTORY | DIRECTORY }

Copy SOURCEs to DEST

	-a	Same as -dpR
	-R,-r	Recurse
	-d,-P	Preserve symlinks (default if -R)
	-L	Follow all symlinks
	-H	Follow symlinks on command line
	-p	Preserve file attributes if possible
	-f	Overwrite
	-i	Prompt before overwrite
	-n	Don't overwrite
	-l,-s	Create (sym)links
	-T	Refuse to copy if DEST is a directory
	-t DIR	Copy all SOURCEs into DIR
	-u	Copy only newer files";

#[derive(Debug, Default)]
struct Opts {
    force: bool,
    recursive: bool,
    preserve: bool,
    no_clobber: bool,
    no_target_dir: bool,
    target: Option<String>,
}

enum Source {
    Host(PathBuf),
    Image(super::catalog::ImageFile),
}

/// Runs `cp` with `argv` (`argv[0]` is `cp`).
pub fn cp(argv: &[String], mounts: &Mounts, image: &ImageSpec) -> ExitCode {
    let mut o = Opts::default();
    let mut paths = vec![];
    let mut i = 1;
    let mut flags_done = false;
    while i < argv.len() {
        let a = &argv[i];
        if !flags_done && a == "--" {
            flags_done = true;
        } else if !flags_done && a.starts_with('-') && a.len() > 1 {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                match chars[j] {
                    'f' => o.force = true,
                    'R' | 'r' => o.recursive = true,
                    'a' => {
                        o.recursive = true;
                        o.preserve = true;
                    }
                    'p' => o.preserve = true,
                    'n' => o.no_clobber = true,
                    'T' => o.no_target_dir = true,
                    'd' | 'P' | 'L' | 'H' | 'u' | 'i' => {}
                    't' => {
                        let rest: String = chars[j + 1..].iter().collect();
                        if rest.is_empty() {
                            i += 1;
                            match argv.get(i) {
                                Some(t) => o.target = Some(t.clone()),
                                None => {
                                    eprintln!("cp: option requires an argument -- 't'\n{USAGE}");
                                    return ExitCode::from(1);
                                }
                            }
                        } else {
                            o.target = Some(rest);
                        }
                        j = chars.len();
                        continue;
                    }
                    c => {
                        eprintln!("cp: unrecognized option: {c}\n{USAGE}");
                        return ExitCode::from(1);
                    }
                }
                j += 1;
            }
        } else {
            paths.push(a.clone());
        }
        i += 1;
    }
    let (sources, dest) = match (&o.target, paths.len()) {
        (Some(t), n) if n >= 1 => (paths.clone(), t.clone()),
        (None, n) if n >= 2 => (paths[..n - 1].to_vec(), paths[n - 1].clone()),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(1);
        }
    };
    let cp = Copier {
        mounts,
        image,
        opts: &o,
    };
    let dest_is_dir = o.target.is_some()
        || (!o.no_target_dir && cp.writable(&dest).ok().is_some_and(|p| p.is_dir()));
    if sources.len() > 1 && !dest_is_dir {
        eprintln!("cp: '{dest}' is not a directory");
        return ExitCode::from(1);
    }
    let mut status = 0u8;
    for src in &sources {
        let target = if dest_is_dir {
            let base = normalize("/", src);
            let name = base.rsplit('/').next().unwrap_or("");
            format!("{}/{name}", dest.trim_end_matches('/'))
        } else {
            dest.clone()
        };
        if let Err(msg) = cp.copy(src, &target) {
            eprintln!("cp: {msg}");
            status = 1;
        }
    }
    ExitCode::from(status)
}

struct Copier<'a> {
    mounts: &'a Mounts,
    image: &'a ImageSpec,
    opts: &'a Opts,
}

impl Copier<'_> {
    fn source(&self, path: &str) -> Result<Source, String> {
        if let Some(r) = self.mounts.resolve(path) {
            return match fs::metadata(&r.host_path) {
                Ok(_) => Ok(Source::Host(r.host_path)),
                Err(e) => Err(format!("can't stat '{path}': {}", io_text(&e))),
            };
        }
        self.image
            .file(path)
            .map(Source::Image)
            .ok_or_else(|| format!("can't stat '{path}': No such file or directory"))
    }

    fn writable(&self, path: &str) -> Result<PathBuf, String> {
        match self.mounts.resolve(path) {
            Some(r) if r.readonly => Err(format!("can't create '{path}': Read-only file system")),
            Some(r) => Ok(r.host_path),
            None => Err(format!(
                "can't create '{path}': the image's own filesystem is not writable on labsim, only the container's volumes are"
            )),
        }
    }

    fn copy(&self, src: &str, dest: &str) -> Result<(), String> {
        match self.source(src)? {
            Source::Image(f) => self.write_file(dest, &f.content, f.mode),
            Source::Host(p) => {
                let meta =
                    fs::metadata(&p).map_err(|e| format!("can't stat '{src}': {}", io_text(&e)))?;
                if meta.is_dir() {
                    if !self.opts.recursive {
                        return Err(format!("omitting directory '{src}'"));
                    }
                    let d = self.writable(dest)?;
                    if !d.is_dir() {
                        fs::create_dir(&d).map_err(|e| {
                            format!("can't create directory '{dest}': {}", io_text(&e))
                        })?;
                    }
                    let mut entries: Vec<_> = fs::read_dir(&p)
                        .map_err(|e| format!("can't open '{src}': {}", io_text(&e)))?
                        .filter_map(Result::ok)
                        .collect();
                    entries.sort_by_key(|e| e.file_name());
                    for e in entries {
                        let name = e.file_name().to_string_lossy().into_owned();
                        self.copy(&format!("{src}/{name}"), &format!("{dest}/{name}"))?;
                    }
                    Ok(())
                } else {
                    let data =
                        fs::read(&p).map_err(|e| format!("can't open '{src}': {}", io_text(&e)))?;
                    self.write_file(dest, &data, meta.permissions().mode() & 0o7777)
                }
            }
        }
    }

    fn write_file(&self, dest: &str, data: &[u8], mode: u32) -> Result<(), String> {
        let target = self.writable(dest)?;
        if target.exists() && self.opts.no_clobber {
            return Ok(());
        }
        let open = |p: &Path| {
            fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(p)
        };
        let existed = target.exists();
        let mut f = match open(&target) {
            Ok(f) => f,
            Err(_) if self.opts.force => {
                let _ = fs::remove_file(&target);
                open(&target).map_err(|e| format!("can't create '{dest}': {}", io_text(&e)))?
            }
            Err(e) => return Err(format!("can't create '{dest}': {}", io_text(&e))),
        };
        f.write_all(data)
            .map_err(|e| format!("error writing to '{dest}': {}", io_text(&e)))?;
        if !existed || self.opts.preserve {
            let _ = fs::set_permissions(&target, fs::Permissions::from_mode(mode));
        }
        Ok(())
    }
}

/// The C library's text for an I/O error (what BusyBox prints).
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::catalog::lookup;
    use crate::images::contract::Mount;

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "labsim-cp-{name}-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn install_cni_plugin_copies_the_image_file_into_the_mount() {
        let d = tmp("plugin");
        let bin = d.0.join("opt-cni-bin");
        fs::create_dir_all(&bin).unwrap();
        let mounts = Mounts(vec![Mount {
            container_path: "/opt/cni/bin".into(),
            host_path: bin.display().to_string(),
            readonly: false,
        }]);
        let image = lookup("ghcr.io/flannel-io/flannel-cni-plugin:v1.6.2-flannel1").unwrap();
        let code = cp(
            &s(&["cp", "-f", "/flannel", "/opt/cni/bin/flannel"]),
            &mounts,
            &image,
        );
        assert_eq!(code, ExitCode::SUCCESS);
        let installed = bin.join("flannel");
        let text = fs::read_to_string(&installed).unwrap();
        assert!(text.contains("labsim stand-in for the flannel CNI plugin"));
        assert_eq!(
            fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // It runs and says what it is.
        let out = std::process::Command::new(&installed).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("CNI flannel plugin v1.6.2-flannel1")
        );
        let out = std::process::Command::new(&installed)
            .env("CNI_COMMAND", "ADD")
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("stand-in"));
    }

    #[test]
    fn install_cni_copies_between_mounts_and_refuses_the_image_filesystem() {
        let d = tmp("conf");
        let cfg = d.0.join("cfg");
        let net = d.0.join("net.d");
        fs::create_dir_all(&cfg).unwrap();
        fs::create_dir_all(&net).unwrap();
        fs::write(cfg.join("cni-conf.json"), "{\"name\":\"cbr0\"}\n").unwrap();
        let mounts = Mounts(vec![
            Mount {
                container_path: "/etc/kube-flannel/".into(),
                host_path: cfg.display().to_string(),
                readonly: true,
            },
            Mount {
                container_path: "/etc/cni/net.d".into(),
                host_path: net.display().to_string(),
                readonly: false,
            },
        ]);
        let image = lookup("ghcr.io/flannel-io/flannel:v0.26.7").unwrap();
        let code = cp(
            &s(&[
                "cp",
                "-f",
                "/etc/kube-flannel/cni-conf.json",
                "/etc/cni/net.d/10-flannel.conflist",
            ]),
            &mounts,
            &image,
        );
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(
            fs::read_to_string(net.join("10-flannel.conflist")).unwrap(),
            "{\"name\":\"cbr0\"}\n"
        );
        // Into a directory.
        assert_eq!(
            cp(
                &s(&["cp", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d"]),
                &mounts,
                &image
            ),
            ExitCode::SUCCESS
        );
        assert!(net.join("cni-conf.json").exists());
        // Read-only volume, missing source, the image's own filesystem.
        assert_eq!(
            cp(
                &s(&["cp", "/etc/cni/net.d/cni-conf.json", "/etc/kube-flannel/x"]),
                &mounts,
                &image
            ),
            ExitCode::from(1)
        );
        assert_eq!(
            cp(
                &s(&["cp", "/etc/kube-flannel/missing", "/etc/cni/net.d/x"]),
                &mounts,
                &image
            ),
            ExitCode::from(1)
        );
        assert_eq!(
            cp(
                &s(&["cp", "/etc/kube-flannel/cni-conf.json", "/tmp/x"]),
                &mounts,
                &image
            ),
            ExitCode::from(1)
        );
        assert!(!net.join("x").exists());
        assert_eq!(
            cp(&s(&["cp", "-Z", "a", "b"]), &mounts, &image),
            ExitCode::from(1)
        );
        assert_eq!(cp(&s(&["cp", "a"]), &mounts, &image), ExitCode::from(1));
    }
}
