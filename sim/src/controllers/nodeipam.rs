//! Node IPAM, the range allocator (pkg/controller/nodeipam/ipam/range_allocator.go with
//! cidrset/cidr_set.go): with `--allocate-node-cidrs`, every node gets a `/--node-cidr-mask-size`
//! (24) block of `--cluster-cidr` in `spec.podCIDR`/`spec.podCIDRs`. Blocks already on nodes are
//! marked used at start; new ones are taken round-robin from the candidate after the last one
//! allocated (`AllocateNext`), so a released block is not reused at once; a deleted node's block
//! is released.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::informers::Informer;
use super::queue::WorkQueue;
use super::{Ctx, SyncError, feed, klog, util, work};
use crate::client::{Change, PatchType, path};

/// The set of blocks of a cluster CIDR (`CidrSet`).
#[derive(Debug, Clone)]
pub struct CidrSet {
    base: u32,
    cluster_bits: u8,
    node_bits: u8,
    used: BTreeSet<u32>,
    next_candidate: u32,
}

/// Errors of the allocator.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// Every block is in use (`ErrCIDRRangeNoCIDRsRemaining`).
    #[error(
        "CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range"
    )]
    Exhausted,
    /// The node mask is not inside the cluster CIDR.
    #[error(
        "--node-cidr-mask-size {node} must be at least the cluster CIDR's prefix /{cluster} and at most 32"
    )]
    BadMask {
        /// Node mask.
        node: u8,
        /// Cluster prefix.
        cluster: u8,
    },
}

impl CidrSet {
    /// The blocks of `cluster` (`10.244.0.0/16`) of size `/node_bits`.
    ///
    /// # Errors
    /// [`IpamError::BadMask`] when the sizes do not fit.
    pub fn new(cluster: (Ipv4Addr, u8), node_bits: u8) -> Result<CidrSet, IpamError> {
        if node_bits < cluster.1 || node_bits > 32 {
            return Err(IpamError::BadMask {
                node: node_bits,
                cluster: cluster.1,
            });
        }
        let mask = if cluster.1 == 0 {
            0
        } else {
            u32::MAX << (32 - cluster.1)
        };
        Ok(CidrSet {
            base: u32::from(cluster.0) & mask,
            cluster_bits: cluster.1,
            node_bits,
            used: BTreeSet::new(),
            next_candidate: 0,
        })
    }

    fn max(&self) -> u32 {
        1u32 << (self.node_bits - self.cluster_bits).min(31)
    }

    fn block(&self, i: u32) -> String {
        let ip = Ipv4Addr::from(self.base + (i << (32 - self.node_bits)));
        format!("{ip}/{}", self.node_bits)
    }

    fn index_of(&self, cidr: &str) -> Option<u32> {
        let (ip, bits) = cidr.split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        if bits.parse::<u8>().ok()? != self.node_bits {
            return None;
        }
        let off = u32::from(ip).checked_sub(self.base)?;
        let i = off >> (32 - self.node_bits);
        (i < self.max()).then_some(i)
    }

    /// Marks a block already on a node as used (`Occupy`).
    pub fn occupy(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.insert(i);
        }
    }

    /// Frees a block (`Release`).
    pub fn release(&mut self, cidr: &str) {
        if let Some(i) = self.index_of(cidr) {
            self.used.remove(&i);
        }
    }

    /// The next free block, searching from the candidate after the last allocation
    /// (`AllocateNext`).
    ///
    /// # Errors
    /// [`IpamError::Exhausted`] when none is free.
    pub fn allocate_next(&mut self) -> Result<String, IpamError> {
        let max = self.max();
        if self.used.len() as u32 >= max {
            return Err(IpamError::Exhausted);
        }
        let mut c = self.next_candidate;
        for _ in 0..max {
            if !self.used.contains(&c) {
                break;
            }
            c = (c + 1) % max;
        }
        self.next_candidate = (c + 1) % max;
        self.used.insert(c);
        Ok(self.block(c))
    }
}

/// Runs the allocator.
pub async fn run(ctx: Ctx) {
    let Some(cluster) = ctx.opts.cluster_cidr else {
        klog(
            'E',
            "range_allocator.go",
            "\"--allocate-node-cidrs is set but --cluster-cidr is not: no pod CIDRs will be allocated\"",
        );
        return;
    };
    let set = match CidrSet::new(cluster, ctx.opts.node_cidr_mask_size) {
        Ok(s) => s,
        Err(e) => {
            klog('E', "range_allocator.go", &format!("\"{e}\""));
            return;
        }
    };
    let nodes = ctx.informers.get("nodes");
    nodes.wait_ready().await;
    let set = Arc::new(Mutex::new(set));
    let allocated: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    {
        let mut s = set.lock().expect("cidr lock");
        for n in nodes.list() {
            if let Some(c) = n["spec"]["podCIDR"].as_str() {
                s.occupy(c);
                allocated
                    .lock()
                    .expect("alloc lock")
                    .insert(util::name(&n).to_string(), c.to_string());
            }
        }
    }
    let q = WorkQueue::new();
    let (rel_set, rel_alloc) = (set.clone(), allocated.clone());
    let all_nodes = nodes.clone();
    feed(
        &nodes,
        q.clone(),
        move |c| match c {
            Change::Applied(o) => vec![util::name(o).to_string()],
            Change::Deleted(o) => {
                if let Some(cidr) = rel_alloc.lock().expect("alloc lock").remove(util::name(o)) {
                    rel_set.lock().expect("cidr lock").release(&cidr);
                }
                vec![]
            }
            Change::Restarted => vec![],
        },
        move || {
            let mut list = all_nodes.list();
            list.sort_by_key(util::created);
            list.iter().map(|n| util::name(n).to_string()).collect()
        },
    );
    let ctx = Arc::new(ctx);
    let recorder = ctx.recorder("cidrAllocator");
    work("range_allocator.go", q, |name| {
        let (ctx, nodes, set, allocated, recorder) = (
            ctx.clone(),
            nodes.clone(),
            set.clone(),
            allocated.clone(),
            recorder.clone(),
        );
        async move { sync(&ctx, &nodes, &set, &allocated, &recorder, &name).await }
    })
    .await;
}

async fn sync(
    ctx: &Ctx,
    nodes: &Informer,
    set: &Mutex<CidrSet>,
    allocated: &Mutex<HashMap<String, String>>,
    recorder: &crate::client::events::Recorder,
    name: &str,
) -> Result<Option<Duration>, SyncError> {
    let Some(node) = nodes.get(name) else {
        return Ok(None);
    };
    if let Some(c) = node["spec"]["podCIDR"].as_str().filter(|c| !c.is_empty()) {
        set.lock().expect("cidr lock").occupy(c);
        allocated
            .lock()
            .expect("alloc lock")
            .insert(name.to_string(), c.to_string());
        return Ok(None);
    }
    let pending = allocated.lock().expect("alloc lock").get(name).cloned();
    let cidr = match pending {
        Some(c) => c,
        None => {
            let next = set.lock().expect("cidr lock").allocate_next();
            match next {
                Ok(c) => {
                    allocated
                        .lock()
                        .expect("alloc lock")
                        .insert(name.to_string(), c.clone());
                    c
                }
                Err(e) => {
                    // nodeutil.RecordNodeStatusChange(recorder, node, "CIDRNotAvailable").
                    let _ = recorder
                        .normal(
                            &node,
                            "CIDRNotAvailable",
                            &format!("Node {name} status is now: CIDRNotAvailable"),
                        )
                        .await;
                    return Err(SyncError::Invalid(e.to_string()));
                }
            }
        }
    };
    let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
    ctx.client
        .patch(
            &path("", "v1", "nodes", None, Some(name)),
            PatchType::Strategic,
            &patch,
        )
        .await?;
    klog(
        'I',
        "range_allocator.go",
        &format!("\"Set node PodCIDR\" node=\"{name}\" podCIDRs=[\"{cidr}\"]"),
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_in_order_round_robin() {
        let mut s = CidrSet::new((Ipv4Addr::new(10, 244, 0, 0), 16), 24).unwrap();
        assert_eq!(s.allocate_next().unwrap(), "10.244.0.0/24");
        assert_eq!(s.allocate_next().unwrap(), "10.244.1.0/24");
        assert_eq!(s.allocate_next().unwrap(), "10.244.2.0/24");
        s.release("10.244.1.0/24");
        // Round-robin: the released block is not the next one.
        assert_eq!(s.allocate_next().unwrap(), "10.244.3.0/24");
        let mut restarted = CidrSet::new((Ipv4Addr::new(10, 244, 0, 0), 16), 24).unwrap();
        restarted.occupy("10.244.0.0/24");
        restarted.occupy("10.244.2.0/24");
        assert_eq!(restarted.allocate_next().unwrap(), "10.244.1.0/24");
        assert_eq!(restarted.allocate_next().unwrap(), "10.244.3.0/24");
    }

    #[test]
    fn exhaustion_and_bad_masks() {
        let mut s = CidrSet::new((Ipv4Addr::new(10, 0, 0, 0), 23), 24).unwrap();
        s.allocate_next().unwrap();
        s.allocate_next().unwrap();
        assert_eq!(s.allocate_next(), Err(IpamError::Exhausted));
        assert!(CidrSet::new((Ipv4Addr::new(10, 0, 0, 0), 24), 16).is_err());
    }
}
