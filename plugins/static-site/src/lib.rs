//! `static-site`: publishes a small static web site held in a `StaticSite` object.
//!
//! States, in order: `Pending` checks the spec, `Publishing` writes the site's content into a
//! ConfigMap (and its access credentials into a Secret when the site is protected),
//! `Verifying` waits until both children are visible, and `Ready` watches for drift. A spec
//! that cannot be published settles in `Invalid` until it changes. Deleting a site removes
//! what it published first.

use std::time::Duration;

use hotloop_sdk::prelude::*;
use serde_json::json;

/// The reconciled kind.
pub const STATIC_SITE: Kind =
    Kind::namespaced("example.hotloop.dev", "v1", "StaticSite", "staticsites");

/// Largest page the plugin publishes: a ConfigMap holds at most 1 MiB.
const MAX_CONTENT_BYTES: usize = 512 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Host name the site is served under.
    #[serde(default)]
    pub domain: String,
    /// The page, as HTML.
    #[serde(default)]
    pub content: String,
    /// Whether visitors need credentials.
    #[serde(default)]
    pub protected: bool,
}

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub content_bytes: u64,
    /// The generation whose content is published.
    #[serde(default)]
    pub published_generation: i64,
}

type Site = Object<Spec, Status>;

#[derive(Debug)]
pub struct StaticSite;

impl Plugin for StaticSite {
    type Spec = Spec;
    type Status = Status;

    fn define() -> Definition<Self> {
        Definition::new("static-site", env!("CARGO_PKG_VERSION"))
            .reconciles(STATIC_SITE)
            .owns(Kind::CONFIG_MAP)
            .owns(Kind::SECRET)
            .state("Pending", StateKind::InProgress, pending)
            .state("Publishing", StateKind::InProgress, publishing)
            .state("Verifying", StateKind::InProgress, verifying)
            .state("Ready", StateKind::SettledReady, ready)
            .state("Invalid", StateKind::SettledFailed, invalid)
            .finalize("Publishing", unpublish)
            .finalize("Verifying", unpublish)
            .finalize("Ready", unpublish)
            .transition("Pending", "Publishing")
            .transition("Pending", "Invalid")
            .transition("Publishing", "Verifying")
            .transition("Verifying", "Ready")
            .transition("Verifying", "Publishing")
            .transition("Ready", "Pending")
            .transition("Invalid", "Pending")
    }
}

hotloop_sdk::export!(StaticSite);

fn content_name(site: &Site) -> String {
    format!("{}-content", site.metadata.name)
}

fn credentials_name(site: &Site) -> String {
    format!("{}-credentials", site.metadata.name)
}

/// Why the spec cannot be published, if it cannot.
fn spec_problem(spec: &Spec) -> Option<String> {
    let domain_ok = !spec.domain.is_empty()
        && spec.domain.len() <= 253
        && spec.domain.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !domain_ok {
        return Some(format!("spec.domain {:?} is not a DNS name", spec.domain));
    }
    if spec.content.len() > MAX_CONTENT_BYTES {
        return Some(format!(
            "spec.content has {} bytes; at most {MAX_CONTENT_BYTES} fit",
            spec.content.len()
        ));
    }
    None
}

fn pending(site: &Site, _: &Context) -> Outcome<Reconcile<Status>> {
    match spec_problem(&site.spec) {
        Some(problem) => Ok(Reconcile::transition("Invalid")
            .condition(Condition::is_false("SpecValid", "InvalidSpec", problem.clone()))
            .note(problem)),
        None => Ok(Reconcile::transition("Publishing").condition(Condition::is_true(
            "SpecValid",
            "Checked",
            "the spec can be published",
        ))),
    }
}

fn publishing(site: &Site, _: &Context) -> Outcome<Reconcile<Status>> {
    host::apply(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": content_name(site), "labels": { "example.hotloop.dev/site": site.metadata.name } },
        "data": { "index.html": site.spec.content, "domain": site.spec.domain },
    }))?;
    if site.spec.protected {
        host::apply(&json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": credentials_name(site) },
            "stringData": { "username": "visitor", "password": password_for(&site.metadata.uid) },
        }))?;
    } else {
        host::delete(&Kind::SECRET, None, &credentials_name(site))?;
    }
    let status = Status {
        url: Some(format!("https://{}/", site.spec.domain)),
        content_bytes: site.spec.content.len() as u64,
        published_generation: site.metadata.generation,
    };
    Ok(Reconcile::transition("Verifying").status(status).note("content written"))
}

/// A stable password per site, so that publishing again changes nothing.
fn password_for(uid: &str) -> String {
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

fn verifying(site: &Site, _: &Context) -> Outcome<Reconcile<Status>> {
    let content: Option<serde_json::Value> =
        host::get(&Kind::CONFIG_MAP, None, &content_name(site))?;
    let Some(content) = content else {
        return Ok(Reconcile::requeue(Duration::from_millis(500)));
    };
    if content["data"]["index.html"].as_str() != Some(site.spec.content.as_str()) {
        return Ok(Reconcile::transition("Publishing").note("published content is out of date"));
    }
    Ok(Reconcile::transition("Ready").condition(Condition::is_true(
        "Published",
        "ContentServed",
        "the site's content is live",
    )))
}

fn ready(site: &Site, _: &Context) -> Outcome<Reconcile<Status>> {
    if site.metadata.generation != site.status.published_generation {
        return Ok(Reconcile::transition("Pending").note("the spec changed"));
    }
    let content: Option<serde_json::Value> =
        host::get(&Kind::CONFIG_MAP, None, &content_name(site))?;
    if content.is_none() {
        return Ok(Reconcile::transition("Pending")
            .condition(Condition::is_false(
                "Published",
                "ContentMissing",
                "the content ConfigMap is gone",
            ))
            .note("content ConfigMap went missing"));
    }
    Ok(Reconcile::settled().condition(Condition::is_true(
        "Published",
        "ContentServed",
        "the site's content is live",
    )))
}

fn invalid(site: &Site, _: &Context) -> Outcome<Reconcile<Status>> {
    match spec_problem(&site.spec) {
        None => Ok(Reconcile::transition("Pending").note("the spec was fixed")),
        Some(problem) => Ok(Reconcile::settled().condition(Condition::is_false(
            "SpecValid",
            "InvalidSpec",
            problem,
        ))),
    }
}

/// Removes what the site published, and waits until the cache no longer shows it.
fn unpublish(site: &Site, _: &Context) -> Outcome<Finalize<Status>> {
    host::delete(&Kind::CONFIG_MAP, None, &content_name(site))?;
    host::delete(&Kind::SECRET, None, &credentials_name(site))?;
    let remaining: Option<serde_json::Value> =
        host::get(&Kind::CONFIG_MAP, None, &content_name(site))?;
    if remaining.is_some() {
        return Ok(Finalize::requeue(Duration::from_millis(200)));
    }
    Ok(Finalize::done().note("site unpublished"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(domain: &str, content: &str) -> Spec {
        Spec { domain: domain.into(), content: content.into(), protected: false }
    }

    #[test]
    fn a_dns_name_with_small_content_can_be_published() {
        assert_eq!(spec_problem(&spec("www.example.com", "<h1>hi</h1>")), None);
    }

    #[test]
    fn a_domain_with_spaces_or_empty_labels_is_rejected() {
        assert!(spec_problem(&spec("not a domain", "")).is_some());
        assert!(spec_problem(&spec("a..b", "")).is_some());
        assert!(spec_problem(&spec("", "")).is_some());
    }

    #[test]
    fn content_over_the_limit_is_rejected() {
        let big = "x".repeat(MAX_CONTENT_BYTES + 1);
        assert!(spec_problem(&spec("example.com", &big)).unwrap().contains("bytes"));
    }

    #[test]
    fn the_password_is_stable_per_site() {
        assert_eq!(password_for("uid-1"), password_for("uid-1"));
        assert_ne!(password_for("uid-1"), password_for("uid-2"));
    }
}
