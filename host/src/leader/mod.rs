//! Leader election: with several replicas of `hotloop run`, one reconciles and the others wait.
//!
//! The replicas share one `coordination.k8s.io/v1` Lease. Its `holderIdentity` names the
//! replica that leads, `renewTime` says when the leader last confirmed it is alive,
//! `leaseDurationSeconds` how long that confirmation holds, `acquireTime` when the current holder
//! took over and `leaseTransitions` how many times the holder changed. A standby takes the Lease
//! once `renewTime + leaseDurationSeconds` has passed without a renewal.
//!
//! # Why `kube-lease-manager`
//! kube 5 has no leader election of its own (kube-rs issue 485 is still open). Of the crates
//! that implement it, `kube-lease-manager` 0.13 is built against kube 5 and k8s-openapi 0.29,
//! is released regularly and keeps the Lease fields above; `kube-leader-election` 0.44 still
//! depends on kube 4 and `kube-coordinate` 2.0 (a release candidate) on kube 2, so either would
//! pull a second kube into the build. We use the crate's manual mode (`changed`), not its
//! `watch` mode, because `watch` only logs a failed renewal and keeps reporting leadership;
//! here a failed renewal ends leadership (see Guarantees).
//!
//! # Timing
//! [`LeaseTiming`] maps the three usual settings onto the crate, which counts whole seconds:
//! - `duration`: how long a renewal holds; a standby takes over this long after the last one.
//! - `renew_deadline`: when the leader renews. It renews `renew_deadline - retry_period` after
//!   its last renewal; a renewal is a patch and a read, each giving up after `retry_period`
//!   (the client built by [`lease_client`]), so the leader has renewed, or stopped, by
//!   `renew_deadline + retry_period` after the last renewal.
//! - `retry_period`: how long a standby waits after a failed request before asking again.
//!
//! # Guarantees
//! - At most one replica holds the Lease at a time, as long as clocks of the replicas differ by
//!   less than `duration - renew_deadline - retry_period`: the holder writes `renewTime` with its clock and a
//!   standby compares it with its own.
//! - [`Leadership::lost`] resolves as soon as a renewal fails, times out, or finds another
//!   holder. The caller stops reconciling then; `hotloop run` exits non-zero, so that its
//!   restart comes back as a standby with a fresh identity.
//!
//! # Caveats
//! - There is no fencing: a write the old leader sent just before it stopped may still land
//!   after a standby took over. Reconciles are idempotent and every write is a server-side
//!   apply or a patch of the object as read, so such a write is repeated, not lost.
//! - The crate releases an expired Lease with an unconditional patch before taking it, so two
//!   standbys may both try; its server-side apply lets only one win, and the other sees the
//!   winner at its next look.

mod timing;

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube_lease_manager::{LeaseCreateMode, LeaseManager, LeaseManagerError, LeaseParams};
use tokio::task::JoinHandle;

pub use timing::{LeaseTiming, TimingError};

/// Where the Lease lives and who this replica is.
#[derive(Debug, Clone)]
pub struct ElectionSettings {
    /// Name of the Lease, shared by every replica.
    pub lease_name: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// This replica's `holderIdentity`; unique per process (see [`identity`]).
    pub identity: String,
    /// Lease duration, renew deadline and retry period.
    pub timing: LeaseTiming,
}

/// Why the Lease could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// The Lease could not be read or created.
    #[error("cannot read or create lease {namespace}/{name}; check the lease RBAC of hotloop")]
    Prepare {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
    /// Giving the Lease up on shutdown failed; a standby takes over once it expires.
    #[error("cannot release lease {namespace}/{name}; a standby takes over when it expires")]
    Release {
        namespace: String,
        name: String,
        #[source]
        source: LeaseManagerError,
    },
}

/// Why this replica stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum LeadershipLost {
    /// A renewal found another holder in the Lease.
    #[error("lost leadership of lease {lease}: another replica holds it")]
    Taken { lease: String },
    /// A renewal failed or timed out.
    #[error("lost leadership of lease {lease}: renewal failed")]
    RenewFailed {
        lease: String,
        #[source]
        source: LeaseManagerError,
    },
    /// The renewing task ended without saying why (it panicked or was aborted).
    #[error("lost leadership of lease {lease}: the renewing task ended")]
    RenewalStopped { lease: String },
}

/// The identity of this process in the Lease: the instance name (the Pod name in a cluster),
/// the process id and the start time, so that a restarted container never resumes the lease
/// of the process it replaces.
pub fn identity(instance: &str) -> String {
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_micros());
    format!("{instance}_{}_{started:x}", std::process::id())
}

/// A client for the Lease alone, whose requests give up after the retry period, so that a
/// renewal stuck on a dead connection cannot outlive the renew deadline.
pub fn lease_client(mut config: kube::Config, timing: &LeaseTiming) -> Result<Client, kube::Error> {
    let limit = Some(timing.retry_period());
    config.connect_timeout = limit;
    config.read_timeout = limit;
    config.write_timeout = limit;
    Client::try_from(config)
}

/// A replica taking part in the election, not leading yet.
pub struct Elector {
    manager: Arc<LeaseManager>,
    settings: ElectionSettings,
    client: Client,
}

impl std::fmt::Debug for Elector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elector").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// The crate's manager of the Lease, which reads the Lease when it is made.
async fn manager(
    client: &Client,
    settings: &ElectionSettings,
) -> Result<LeaseManager, ElectionError> {
    let timing = &settings.timing;
    let params = LeaseParams::new(
        settings.identity.clone(),
        timing.duration().as_secs(),
        timing.grace_seconds(),
    )
    .with_field_manager(format!("hotloop.dev/lease-{}", settings.identity));
    LeaseManager::new(
        client.clone(),
        settings.lease_name.clone(),
        settings.namespace.clone(),
        params,
        LeaseCreateMode::AutoCreate,
    )
    .await
    .map_err(|source| ElectionError::Prepare {
        namespace: settings.namespace.clone(),
        name: settings.lease_name.clone(),
        source,
    })
}

impl Elector {
    /// Prepares the election, creating the Lease if it does not exist yet.
    ///
    /// # Errors
    /// [`ElectionError::Prepare`] when the Lease can be neither read nor created.
    pub async fn new(client: Client, settings: ElectionSettings) -> Result<Self, ElectionError> {
        let manager = Arc::new(manager(&client, &settings).await?);
        Ok(Elector { manager, settings, client })
    }

    /// Waits until this replica holds the Lease, then keeps renewing it in a task of its own.
    ///
    /// A failed request is logged and asked again after the retry period; waiting never ends
    /// otherwise, so run it next to the shutdown signal.
    ///
    /// A Lease released by a leader that stepped down is taken at once: the crate's manager
    /// would only look again when the released lease's last renewal expires, so the Lease is
    /// also read every retry period, and a manager made afresh when it has no holder.
    pub async fn acquire(mut self) -> Leadership {
        let lease = self.lease();
        tracing::info!(%lease, identity = %self.settings.identity, "waiting to lead");
        loop {
            tokio::select! {
                changed = self.manager.changed() => match changed {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%lease, error = %error, "cannot read the lease; asking again");
                        tokio::time::sleep(self.settings.timing.retry_period()).await;
                    }
                },
                () = released(&self.client, &self.settings) => {
                    tracing::info!(%lease, "the lease was released; taking it");
                    match manager(&self.client, &self.settings).await {
                        Ok(fresh) => self.manager = Arc::new(fresh),
                        Err(error) => tracing::warn!(%lease, error = %error, "cannot read the lease; asking again"),
                    }
                }
            }
        }
        tracing::info!(%lease, identity = %self.settings.identity, "leading");
        let manager = self.manager.clone();
        let renewing = tokio::spawn(async move { manager.changed().await });
        Leadership { manager: self.manager, settings: self.settings, renewing }
    }

    fn lease(&self) -> String {
        lease_name(&self.settings)
    }
}

/// Resolves once the Lease has no holder, read every retry period.
async fn released(client: &Client, settings: &ElectionSettings) {
    let leases: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &settings.namespace);
    loop {
        tokio::time::sleep(settings.timing.retry_period()).await;
        if let Ok(Some(lease)) = leases.get_opt(&settings.lease_name).await {
            let holder = lease.spec.and_then(|spec| spec.holder_identity);
            if holder.is_none_or(|holder| holder.is_empty()) {
                return;
            }
        }
    }
}

fn lease_name(settings: &ElectionSettings) -> String {
    format!("{}/{}", settings.namespace, settings.lease_name)
}

/// This replica holds the Lease; a task renews it until [`Leadership::lost`] resolves.
#[derive(Debug)]
pub struct Leadership {
    manager: Arc<LeaseManager>,
    settings: ElectionSettings,
    renewing: JoinHandle<Result<bool, LeaseManagerError>>,
}

impl Leadership {
    /// Resolves when this replica no longer leads. Cancel-safe: it can sit in a `select!`.
    ///
    /// # Panics
    /// When called again after it resolved.
    pub async fn lost(&mut self) -> LeadershipLost {
        let lease = lease_name(&self.settings);
        match (&mut self.renewing).await {
            Ok(Ok(_)) => LeadershipLost::Taken { lease },
            Ok(Err(source)) => LeadershipLost::RenewFailed { lease, source },
            Err(_) => LeadershipLost::RenewalStopped { lease },
        }
    }

    /// Stops renewing and clears the Lease, so that a standby takes over at once instead of
    /// waiting for the lease to expire. Call it once nothing reconciles any more.
    ///
    /// # Errors
    /// [`ElectionError::Release`] when the Lease cannot be written; it then expires by itself.
    pub async fn step_down(self) -> Result<(), ElectionError> {
        self.renewing.abort();
        let settings = self.settings;
        self.manager.release().await.map_err(|source| ElectionError::Release {
            namespace: settings.namespace.clone(),
            name: settings.lease_name.clone(),
            source,
        })?;
        tracing::info!(lease = %lease_name(&settings), "released the lease");
        Ok(())
    }
}
