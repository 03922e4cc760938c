//! `hotloop run --leader-elect`: the election flags, and the steps `run` takes around them.
//!
//! When leadership is lost (a renewal failed, timed out, or found another holder), `run`
//! returns an error at once, without the shutdown grace: the process exits non-zero, every
//! controller stops with it, and the restarted process joins as a standby. Exiting is the
//! simplest way to be sure nothing of the old term goes on reconciling; the cost is a restart
//! and a fresh compile of the plugins (kept short by `--cache-dir`).

use std::future::Future;

use anyhow::Context as _;
use kube::runtime::events::Reporter;

use crate::leader::{ElectionSettings, Elector, Leadership, LeaseTiming, identity, lease_client};
use crate::observe::{Metrics, Readiness, Role};

#[derive(Debug, clap::Args)]
pub(super) struct ElectionArgs {
    /// Reconcile only while holding a Lease, so that several replicas can run: one leads, the
    /// others stand by and take over when it stops.
    #[arg(long)]
    leader_elect: bool,
    /// Name of the Lease (coordination.k8s.io) the replicas share.
    #[arg(long, default_value = "hotloop")]
    lease_name: String,
    /// Namespace of the Lease [default: the value of --namespace].
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Seconds a renewal holds the Lease; a standby takes over this long after the last one
    /// when the leader dies. A leader that stops releases the Lease, and a standby takes it
    /// within a retry period.
    #[arg(long, default_value_t = 15)]
    lease_duration_s: u64,
    /// Seconds after its last renewal at which the leader renews (minus the retry period).
    #[arg(long, default_value_t = 10)]
    renew_deadline_s: u64,
    /// Seconds between attempts, and the longest one request about the Lease may take.
    #[arg(long, default_value_t = 2)]
    retry_period_s: u64,
}

/// This instance's part in the election, from the moment it may reconcile.
#[derive(Debug)]
pub(super) struct Election {
    /// `None` without `--leader-elect`.
    leadership: Option<Leadership>,
    readiness: Readiness,
}

impl Election {
    /// Without `--leader-elect`, the instance reconciles at once. With it, the instance is
    /// ready as a standby until it holds the Lease, then leads. `None` when `stop` completed
    /// first.
    pub(super) async fn start(
        args: &ElectionArgs,
        namespace: &str,
        reporter: &Reporter,
        metrics: &Metrics,
        readiness: &Readiness,
        stop: impl Future<Output = ()>,
    ) -> anyhow::Result<Option<Election>> {
        let readiness = readiness.clone();
        if !args.leader_elect {
            metrics.leader(true);
            return Ok(Some(Election { leadership: None, readiness }));
        }
        let settings = settings(args, namespace, reporter)?;
        let config =
            kube::Config::infer().await.context("cannot find the cluster for the lease")?;
        let client =
            lease_client(config, &settings.timing).context("cannot build a lease client")?;
        let elector = Elector::new(client, settings).await?;
        readiness.set_role(Role::Standby);
        readiness.set_ready(true);
        let leadership = tokio::select! {
            leadership = elector.acquire() => leadership,
            () = stop => return Ok(None),
        };
        readiness.set_role(Role::Leader);
        metrics.leader(true);
        Ok(Some(Election { leadership: Some(leadership), readiness }))
    }

    /// Waits for `stop`. An error when leadership is lost first: the caller returns it at once.
    pub(super) async fn until(&mut self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Some(leadership) = &mut self.leadership else {
            stop.await;
            return Ok(());
        };
        tokio::select! {
            () = stop => Ok(()),
            lost = leadership.lost() => {
                self.readiness.set_ready(false);
                tracing::error!(error = %lost, "stopping every controller and exiting");
                Err(lost.into())
            }
        }
    }

    /// Gives the Lease up once nothing reconciles any more, so a standby takes over at once.
    pub(super) async fn step_down(self) {
        if let Some(leadership) = self.leadership
            && let Err(error) = leadership.step_down().await
        {
            tracing::warn!(error = %error, "cannot release the lease");
        }
    }
}

fn settings(
    args: &ElectionArgs,
    namespace: &str,
    reporter: &Reporter,
) -> anyhow::Result<ElectionSettings> {
    let timing =
        LeaseTiming::new(args.lease_duration_s, args.renew_deadline_s, args.retry_period_s)
            .context("invalid leader election timing")?;
    let instance = reporter.instance.as_deref().unwrap_or("hotloop");
    Ok(ElectionSettings {
        lease_name: args.lease_name.clone(),
        namespace: args.lease_namespace.clone().unwrap_or_else(|| namespace.to_owned()),
        identity: identity(instance),
        timing,
    })
}
