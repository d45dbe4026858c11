//! Addresses: profile slots, node IPs and the mapping of pod IPs onto 127.0.0.0/8 (docs/labsim.md).
//!
//! Every labsim profile holds a **slot** `s` (0–99). Its nodes live at `127.(100+s).49.(2+i)`, which
//! mirrors minikube's docker network `192.168.49.0/24` with nodes at `.2`, `.3`, `.4`
//! (minikube `pkg/drivers/kic/oci/network_create.go`). Pod IPs stay Kubernetes' own (`10.244.N.M`
//! from the node's `spec.podCIDR`), and the process serving a pod binds the mapped address
//! `127.(100+s).(128+N).M`.
//!
//! Slots are allocated machine-wide, not per `$LABSIM_HOME`: several homes (parallel tests,
//! parallel helpers) share one loopback network, so two of them must never hold the same slot. The
//! registry is a directory (`/tmp/labsim-slots/`) with one file per taken slot naming the profile
//! directory that owns it; allocation happens under an exclusive `flock` on `.lock` in that
//! directory, and a slot whose owner directory no longer exists is free again.

use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Number of profile slots (the second octet runs from 100 to 199).
pub const SLOTS: u8 = 100;
/// Largest number of nodes a profile can have (node IPs `.2` … `.254`).
pub const MAX_NODES: usize = 253;
/// The pod subnet index `N` of `10.244.N.0/24` must stay below this (the third octet of the
/// mapped address is `128 + N`).
pub const MAX_POD_SUBNETS: u8 = 120;
/// The machine-wide slot registry.
pub const SLOT_REGISTRY: &str = "/tmp/labsim-slots";

/// An address computation or slot allocation that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The slot number is outside 0–99.
    #[error("slot {0} is out of range: labsim has slots 0 to {max}", max = SLOTS - 1)]
    SlotOutOfRange(u8),
    /// The node index would give an address past `.254`.
    #[error("node index {0} is out of range: a profile can have at most {MAX_NODES} nodes")]
    NodeOutOfRange(usize),
    /// The pod IP is not inside 10.244.0.0/16.
    #[error("pod IP {0} is not in 10.244.0.0/16, the pod network labsim maps onto loopback")]
    NotAPodIp(Ipv4Addr),
    /// The pod IP's subnet `N` is too large to be mapped.
    #[error(
        "pod IP {0} is in 10.244.{1}.0/24, but labsim can only map pod subnets 10.244.0.0/24 to 10.244.{max}.0/24",
        max = MAX_POD_SUBNETS - 1
    )]
    PodSubnetTooLarge(Ipv4Addr, u8),
    /// The address is not one that labsim maps pods onto.
    #[error("{0} is not a labsim pod address (127.100-199.128-247.x)")]
    NotAMappedPodAddress(Ipv4Addr),
    /// Every slot is taken.
    #[error(
        "all {SLOTS} labsim profile slots are taken (registry {0}): delete a profile with `minikube delete -p NAME`"
    )]
    NoFreeSlot(PathBuf),
    /// The registry could not be read or written.
    #[error("cannot use the labsim slot registry at {path}: {source}")]
    Registry {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The IP of node `index` (0 = primary) of the profile in `slot`: `127.(100+slot).49.(2+index)`.
///
/// # Errors
/// [`NetError::SlotOutOfRange`] or [`NetError::NodeOutOfRange`].
pub fn node_ip(slot: u8, index: usize) -> Result<Ipv4Addr, NetError> {
    if slot >= SLOTS {
        return Err(NetError::SlotOutOfRange(slot));
    }
    if index >= MAX_NODES {
        return Err(NetError::NodeOutOfRange(index));
    }
    Ok(Ipv4Addr::new(127, 100 + slot, 49, 2 + index as u8))
}

/// The loopback address that serves pod IP `10.244.N.M` in the profile of `slot`:
/// `127.(100+slot).(128+N).M`.
///
/// # Errors
/// [`NetError::SlotOutOfRange`], [`NetError::NotAPodIp`] or [`NetError::PodSubnetTooLarge`].
pub fn pod_host_addr(slot: u8, pod_ip: Ipv4Addr) -> Result<Ipv4Addr, NetError> {
    if slot >= SLOTS {
        return Err(NetError::SlotOutOfRange(slot));
    }
    let [a, b, n, m] = pod_ip.octets();
    if a != 10 || b != 244 {
        return Err(NetError::NotAPodIp(pod_ip));
    }
    if n >= MAX_POD_SUBNETS {
        return Err(NetError::PodSubnetTooLarge(pod_ip, n));
    }
    Ok(Ipv4Addr::new(127, 100 + slot, 128 + n, m))
}

/// The inverse of [`pod_host_addr`]: the slot and pod IP that a mapped loopback address serves.
///
/// # Errors
/// [`NetError::NotAMappedPodAddress`] when `addr` is not of the form `127.(100+s).(128+N).M`.
pub fn pod_ip_from_host_addr(addr: Ipv4Addr) -> Result<(u8, Ipv4Addr), NetError> {
    let [a, b, c, m] = addr.octets();
    let in_slots = (100..100 + SLOTS).contains(&b);
    let in_pods = (128..128 + MAX_POD_SUBNETS).contains(&c);
    if a != 127 || !in_slots || !in_pods {
        return Err(NetError::NotAMappedPodAddress(addr));
    }
    Ok((b - 100, Ipv4Addr::new(10, 244, c - 128, m)))
}

/// The machine-wide registry of profile slots (see the module documentation).
#[derive(Debug, Clone)]
pub struct SlotRegistry {
    dir: PathBuf,
}

impl Default for SlotRegistry {
    fn default() -> Self {
        SlotRegistry::new(SLOT_REGISTRY)
    }
}

impl SlotRegistry {
    /// A registry kept in `dir` (the real one is [`SLOT_REGISTRY`]; tests use their own).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SlotRegistry { dir: dir.into() }
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> NetError {
        let path = path.to_path_buf();
        move |source| NetError::Registry { path, source }
    }

    fn lock(&self) -> Result<Flock<fs::File>, NetError> {
        fs::create_dir_all(&self.dir).map_err(self.io(&self.dir))?;
        // Sticky and world-writable like /tmp, so every user's labsim can register slots.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o1777));
        let path = self.dir.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(self.io(&path))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| NetError::Registry {
            path,
            source: std::io::Error::from(e),
        })
    }

    fn slot_file(&self, slot: u8) -> PathBuf {
        self.dir.join(slot.to_string())
    }

    /// The profile directory that holds `slot`, if the slot is taken by a directory that still
    /// exists.
    pub fn owner(&self, slot: u8) -> Option<PathBuf> {
        let owner = PathBuf::from(fs::read_to_string(self.slot_file(slot)).ok()?.trim());
        owner.is_dir().then_some(owner)
    }

    /// Allocates the lowest free slot for the profile directory `owner` (which must exist), or
    /// returns the slot `owner` already holds.
    ///
    /// # Errors
    /// [`NetError::NoFreeSlot`] when all slots are held by existing directories, or
    /// [`NetError::Registry`] when the registry cannot be used.
    pub fn allocate(&self, owner: &Path) -> Result<u8, NetError> {
        let _lock = self.lock()?;
        let mut free = None;
        for slot in 0..SLOTS {
            match self.owner(slot) {
                Some(o) if o == owner => return Ok(slot),
                Some(_) => {}
                None => {
                    if free.is_none() {
                        free = Some(slot);
                    }
                }
            }
        }
        let slot = free.ok_or_else(|| NetError::NoFreeSlot(self.dir.clone()))?;
        let path = self.slot_file(slot);
        let mut f = fs::File::create(&path).map_err(self.io(&path))?;
        writeln!(f, "{}", owner.display()).map_err(self.io(&path))?;
        Ok(slot)
    }

    /// Releases `slot` if `owner` holds it (a slot taken over by someone else is left alone).
    ///
    /// # Errors
    /// [`NetError::Registry`] when the registry cannot be used.
    pub fn release(&self, slot: u8, owner: &Path) -> Result<(), NetError> {
        let _lock = self.lock()?;
        let path = self.slot_file(slot);
        let held_by = fs::read_to_string(&path).ok();
        if held_by.is_some_and(|h| Path::new(h.trim()) == owner) {
            fs::remove_file(&path).map_err(self.io(&path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ips_mirror_minikubes_docker_network() {
        assert_eq!(node_ip(0, 0).unwrap(), Ipv4Addr::new(127, 100, 49, 2));
        assert_eq!(node_ip(0, 2).unwrap(), Ipv4Addr::new(127, 100, 49, 4));
        assert_eq!(node_ip(99, 1).unwrap(), Ipv4Addr::new(127, 199, 49, 3));
        assert!(matches!(
            node_ip(100, 0),
            Err(NetError::SlotOutOfRange(100))
        ));
        assert!(matches!(
            node_ip(0, MAX_NODES),
            Err(NetError::NodeOutOfRange(_))
        ));
        assert_eq!(
            node_ip(0, MAX_NODES - 1).unwrap(),
            Ipv4Addr::new(127, 100, 49, 254)
        );
    }

    #[test]
    fn pod_ips_map_both_ways() {
        let pod = Ipv4Addr::new(10, 244, 1, 7);
        let host = pod_host_addr(3, pod).unwrap();
        assert_eq!(host, Ipv4Addr::new(127, 103, 129, 7));
        assert_eq!(pod_ip_from_host_addr(host).unwrap(), (3, pod));
        let last = Ipv4Addr::new(10, 244, MAX_POD_SUBNETS - 1, 255);
        let mapped = pod_host_addr(99, last).unwrap();
        assert_eq!(mapped, Ipv4Addr::new(127, 199, 247, 255));
        assert_eq!(pod_ip_from_host_addr(mapped).unwrap(), (99, last));
    }

    #[test]
    fn pod_mapping_rejects_what_it_cannot_map() {
        assert!(matches!(
            pod_host_addr(0, Ipv4Addr::new(10, 244, 120, 1)),
            Err(NetError::PodSubnetTooLarge(_, 120))
        ));
        assert!(matches!(
            pod_host_addr(0, Ipv4Addr::new(10, 96, 0, 1)),
            Err(NetError::NotAPodIp(_))
        ));
        assert!(matches!(
            pod_host_addr(100, Ipv4Addr::new(10, 244, 0, 1)),
            Err(NetError::SlotOutOfRange(100))
        ));
        for bad in [
            Ipv4Addr::new(127, 100, 49, 2),
            Ipv4Addr::new(127, 0, 128, 1),
            Ipv4Addr::new(127, 200, 128, 1),
            Ipv4Addr::new(127, 100, 248, 1),
            Ipv4Addr::new(10, 100, 128, 1),
        ] {
            assert!(
                matches!(
                    pod_ip_from_host_addr(bad),
                    Err(NetError::NotAMappedPodAddress(_))
                ),
                "{bad}"
            );
        }
    }

    /// A temporary directory removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let p = std::env::temp_dir().join(format!(
                "labsim-net-test-{tag}-{}-{}",
                std::process::id(),
                jiff::Timestamp::now().as_nanosecond()
            ));
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn slots_are_lowest_free_reused_and_freed_with_their_owner() {
        let tmp = TempDir::new("slots");
        let reg = SlotRegistry::new(tmp.0.join("registry"));
        let a = tmp.0.join("home-a/profiles/demo");
        let b = tmp.0.join("home-b/profiles/demo");
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        assert_eq!(reg.allocate(&a).unwrap(), 0);
        assert_eq!(reg.allocate(&a).unwrap(), 0, "an owner keeps its slot");
        assert_eq!(
            reg.allocate(&b).unwrap(),
            1,
            "same profile name, other home"
        );
        assert_eq!(reg.owner(1).as_deref(), Some(b.as_path()));
        // Releasing by someone who does not hold the slot changes nothing.
        reg.release(1, &a).unwrap();
        assert_eq!(reg.owner(1).as_deref(), Some(b.as_path()));
        // A slot whose owner directory vanished is free again.
        fs::remove_dir_all(tmp.0.join("home-a")).unwrap();
        assert_eq!(reg.owner(0), None);
        let c = tmp.0.join("home-c/profiles/x");
        fs::create_dir_all(&c).unwrap();
        assert_eq!(reg.allocate(&c).unwrap(), 0);
        reg.release(1, &b).unwrap();
        assert_eq!(reg.owner(1), None);
    }

    #[test]
    fn allocation_is_exclusive_across_threads() {
        let tmp = TempDir::new("race");
        let reg = SlotRegistry::new(tmp.0.join("registry"));
        let owners: Vec<PathBuf> = (0..8).map(|i| tmp.0.join(format!("p{i}"))).collect();
        for o in &owners {
            fs::create_dir_all(o).unwrap();
        }
        let slots: Vec<u8> = std::thread::scope(|s| {
            let handles: Vec<_> = owners
                .iter()
                .map(|o| {
                    let reg = reg.clone();
                    s.spawn(move || reg.allocate(o).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = slots.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, (0..8).collect::<Vec<u8>>(), "{slots:?}");
    }
}
