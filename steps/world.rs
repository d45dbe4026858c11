//! The cucumber world: one [`Lab`] per scenario, created by the `before` hook (it needs the
//! scenario's name for its transcript folder) and finished by the `after` hook.

use std::fmt;

use k8s_labs::lab::Lab;
use k8s_labs::run::ProfileLease;

/// Per-scenario state: the lab and the profile name it holds.
#[derive(cucumber::World, Default)]
pub struct LabWorld {
    lab: Option<Lab>,
    lease: Option<ProfileLease>,
    started: Option<tokio::time::Instant>,
}

impl fmt::Debug for LabWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.lab {
            Some(lab) => lab.fmt(f),
            None => f.write_str("LabWorld (no lab yet)"),
        }
    }
}

impl LabWorld {
    /// Installs the scenario's lab.
    pub fn begin(&mut self, lab: Lab, lease: ProfileLease) {
        self.lab = Some(lab);
        self.lease = Some(lease);
        self.started = Some(tokio::time::Instant::now());
    }

    /// When the scenario started (its deadline counts from there).
    pub fn started(&self) -> tokio::time::Instant {
        self.started.unwrap_or_else(tokio::time::Instant::now)
    }

    /// The scenario's lab.
    ///
    /// # Panics
    /// If the `before` hook did not create one (it always does, or the scenario fails there).
    pub fn lab(&mut self) -> &mut Lab {
        self.lab.as_mut().expect("the before hook creates the lab")
    }

    /// Takes the lab out at the end of the scenario.
    pub fn take_lab(&mut self) -> Option<Lab> {
        self.lab.take()
    }

    /// Takes the profile name's lease out at the end of the scenario: it goes with the cluster
    /// when the run keeps it, else it is released when dropped.
    pub fn take_lease(&mut self) -> Option<ProfileLease> {
        self.lease.take()
    }
}
