//! The runtime's image store (containerd's image service): image references normalised as
//! containerd does, "pulls" that resolve a reference in labsim's image catalogue, and the list of
//! images present on the node, kept under `/var/lib/containerd` so that a node restart keeps them.
//!
//! An image the catalogue does not know fails to pull as if its registry were unreachable (labsim
//! never talks to a registry): containerd's `failed to pull and unpack image …: failed to resolve
//! reference …` wrapping a DNS failure for the registry host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cri::Image;

/// What the runtime needs to know about an image of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageMeta {
    /// The normalised reference (`docker.io/library/nginx:latest`).
    pub reference: String,
    /// The image ID (`sha256:` + config digest).
    pub id: String,
    /// The repository digest (`<repo>@sha256:…`, the manifest digest).
    pub repo_digest: String,
    /// Unpacked size in bytes, as `crictl images` reports it.
    pub size: u64,
    /// The image's `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// The image's `Cmd`.
    pub cmd: Vec<String>,
    /// The image's `Env`, in order.
    pub env: Vec<(String, String)>,
    /// The image's `StopSignal` (signal number), if it sets one.
    pub stop_signal: Option<i32>,
}

/// Normalises an image reference as containerd's `reference/docker.ParseDockerRef` does: a name
/// without a registry is on `docker.io`, a single-component name there is under `library/`, and a
/// reference without tag or digest gets `:latest`.
pub fn normalize(reference: &str) -> String {
    if let Ok(r) = crate::images::catalog::Reference::parse(reference) {
        return r.to_string();
    }
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let (domain, path) = crate::images::catalog::split_docker_domain(name_tag);
    let last = path.rsplit('/').next().unwrap_or_default();
    let mut out = format!("{domain}/{path}");
    match digest {
        Some(d) => {
            out.push('@');
            out.push_str(d);
        }
        None if !last.contains(':') => out.push_str(":latest"),
        None => {}
    }
    out
}

/// The error containerd reports when pulling an image labsim does not know: its registry cannot be
/// reached, as on a machine without network (the catalogue's `pull_failure`, containerd
/// `internal/cri/server/images/image_pull.go` wrapping the resolver's error).
pub fn pull_error(reference: &str) -> String {
    crate::images::catalog::pull_failure(reference)
}

/// Looks a reference up in labsim's image catalogue ([`crate::images::catalog`]).
pub fn lookup(reference: &str) -> Option<ImageMeta> {
    let spec = crate::images::catalog::lookup(reference)?;
    Some(ImageMeta {
        reference: spec.reference.to_string(),
        id: spec.id.clone(),
        repo_digest: spec.repo_digest(),
        size: spec.size,
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: spec
            .env
            .iter()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect(),
        stop_signal: None,
    })
}

/// One image present on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredImage {
    /// What the catalogue said about it.
    pub meta: ImageMeta,
    /// Tags it is known under (normalised references).
    pub tags: Vec<String>,
    /// Pinned (the sandbox image).
    pub pinned: bool,
}

impl StoredImage {
    /// The CRI view.
    pub fn to_cri(&self) -> Image {
        Image {
            id: self.meta.id.clone(),
            repo_tags: self.tags.clone(),
            repo_digests: vec![self.meta.repo_digest.clone()],
            size: self.meta.size,
            pinned: self.pinned,
        }
    }
}

/// The node's images, by ID, persisted in `images.json` of the runtime's state directory.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ImageStore {
    images: BTreeMap<String, StoredImage>,
    #[serde(skip)]
    file: PathBuf,
}

impl ImageStore {
    /// Loads the store from `file` (empty when it does not exist or is damaged).
    pub fn load(file: &Path) -> ImageStore {
        let mut s: ImageStore = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        s.file = file.to_path_buf();
        s
    }

    fn save(&self) {
        if self.file.as_os_str().is_empty() {
            return;
        }
        let text = serde_json::to_string_pretty(self).expect("images serialise");
        let _ = super::state::write_atomic(&self.file, text.as_bytes());
    }

    /// The image a reference or an ID (`sha256:…`, or a unique prefix of the hex) names.
    pub fn find(&self, image: &str) -> Option<&StoredImage> {
        if let Some(i) = self.images.get(image) {
            return Some(i);
        }
        let n = normalize(image);
        if let Some(i) = self
            .images
            .values()
            .find(|i| i.tags.contains(&n) || i.meta.repo_digest == n)
        {
            return Some(i);
        }
        let hex = image.trim_start_matches("sha256:");
        if hex.len() >= 3 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut m = self
                .images
                .values()
                .filter(|i| i.meta.id.trim_start_matches("sha256:").starts_with(hex));
            if let (Some(one), None) = (m.next(), m.next()) {
                return Some(one);
            }
        }
        None
    }

    /// Pulls `reference`: resolves it in the catalogue and records it.
    ///
    /// # Errors
    /// containerd's pull error text when the catalogue does not know the image.
    pub fn pull(&mut self, reference: &str, pinned: bool) -> Result<StoredImage, String> {
        if crate::images::catalog::Reference::parse(reference).is_err() {
            return Err(pull_error(reference));
        }
        let n = normalize(reference);
        let meta = lookup(&n).ok_or_else(|| pull_error(reference))?;
        let entry = self
            .images
            .entry(meta.id.clone())
            .or_insert_with(|| StoredImage {
                meta: meta.clone(),
                tags: vec![],
                pinned,
            });
        if !entry.tags.contains(&n) && !n.contains('@') {
            entry.tags.push(n);
            entry.tags.sort();
        }
        entry.pinned |= pinned;
        let out = entry.clone();
        self.save();
        Ok(out)
    }

    /// Removes an image (by reference or ID). Returns whether it was present.
    pub fn remove(&mut self, image: &str) -> bool {
        let Some(id) = self.find(image).map(|i| i.meta.id.clone()) else {
            return false;
        };
        self.images.remove(&id);
        self.save();
        true
    }

    /// Every image, by ID.
    pub fn list(&self) -> Vec<StoredImage> {
        self.images.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_like_containerd() {
        assert_eq!(normalize("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize("nginx:1.25"), "docker.io/library/nginx:1.25");
        assert_eq!(
            normalize("stefanprodan/podinfo:6.3.5"),
            "docker.io/stefanprodan/podinfo:6.3.5"
        );
        assert_eq!(
            normalize("ghcr.io/learnk8s/podinfo:2023.03"),
            "ghcr.io/learnk8s/podinfo:2023.03"
        );
        assert_eq!(
            normalize("registry.k8s.io/pause:3.10"),
            "registry.k8s.io/pause:3.10"
        );
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(
            normalize("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize("busybox@sha256:abc"),
            "docker.io/library/busybox@sha256:abc"
        );
    }

    #[test]
    fn unknown_images_fail_like_an_unreachable_registry() {
        assert_eq!(
            pull_error("nosuch/image:1"),
            "failed to pull and unpack image \"docker.io/nosuch/image:1\": failed to resolve reference \"docker.io/nosuch/image:1\": failed to do request: Head \"https://registry-1.docker.io/v2/nosuch/image/manifests/1\": dial tcp: lookup registry-1.docker.io: no such host"
        );
        assert!(pull_error("quay.io/a/b").contains("https://quay.io/v2/a/b/manifests/latest"));
    }
}
