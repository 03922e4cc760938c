use super::*;
use crate::contract::{StateDecl, Transition};

fn manifest() -> Manifest {
    let state = |name: &str, kind| StateDecl { name: name.into(), kind, finalizes: true };
    Manifest {
        name: "static-site".into(),
        version: "1.2.0".into(),
        reconciles: crate::contract::KindRef {
            group: "example.hotloop.dev".into(),
            version: "v1".into(),
            kind: "StaticSite".into(),
            plural: "staticsites".into(),
            namespaced: true,
        },
        owns: vec![],
        reads: vec![],
        states: vec![
            state("Pending", StateKind::InProgress),
            state("Ready", StateKind::SettledReady),
        ],
        transitions: vec![Transition { from: "Pending".into(), to: "Ready".into() }],
        initial_state: "Pending".into(),
        finalizer: true,
    }
}

fn plugin() -> PluginIdentity {
    PluginIdentity {
        name: "static-site".into(),
        version: "1.2.0".into(),
        digest: "sha256:ab".into(),
    }
}

fn result(outcome: Outcome) -> ReconcileResult {
    ReconcileResult { outcome, status: None, conditions: vec![], note: None }
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"].as_array().unwrap().iter().find(|c| c["type"] == type_).unwrap()
}

#[test]
fn a_transition_moves_the_phase_requeues_at_once_and_records_a_normal_event() {
    let (manifest, plugin) = (manifest(), plugin());
    let inputs =
        Inputs { status: None, generation: 3, manifest: &manifest, plugin: &plugin, now: "T1" };
    let mut moved = result(Outcome::Transition { to: "Ready".into() });
    moved.status = Some(json!({"url": "https://a/"}).as_object().unwrap().clone());
    moved.note = Some("published".into());
    let decision = after_reconcile(inputs, "Pending", &moved);
    assert_eq!(decision.state, "Ready");
    assert_eq!(decision.requeue, Requeue::Now);
    assert_eq!(decision.status["phase"], "Ready");
    assert_eq!(decision.status["observedGeneration"], 3);
    assert_eq!(decision.status["url"], "https://a/");
    assert_eq!(decision.status["plugin"]["digest"], "sha256:ab");
    assert_eq!(condition(&decision.status, "Ready")["status"], "True");
    assert_eq!(decision.events[0].message, "Pending -> Ready: published");
    assert_eq!(decision.events[0].type_, EventType::Normal);
}

#[test]
fn last_transition_time_moves_only_when_a_condition_status_changes() {
    let (manifest, plugin) = (manifest(), plugin());
    let first =
        Inputs { status: None, generation: 1, manifest: &manifest, plugin: &plugin, now: "T1" };
    let pending = after_reconcile(first, "Pending", &result(Outcome::Requeue { after_ms: 500 }));
    let again = Inputs { status: Some(&pending.status), now: "T2", ..first };
    let still = after_reconcile(again, "Pending", &result(Outcome::Requeue { after_ms: 500 }));
    assert_eq!(condition(&still.status, "Ready")["lastTransitionTime"], "T1");
    let later = Inputs { status: Some(&still.status), now: "T3", ..first };
    let ready =
        after_reconcile(later, "Pending", &result(Outcome::Transition { to: "Ready".into() }));
    assert_eq!(condition(&ready.status, "Ready")["lastTransitionTime"], "T3");
    assert_eq!(condition(&ready.status, "Stalled")["lastTransitionTime"], "T1");
}

#[test]
fn a_retryable_failure_keeps_the_state_and_plugin_fields_and_backs_off() {
    let (manifest, plugin) = (manifest(), plugin());
    let previous = json!({"phase": "Pending", "url": "https://a/", "conditions": []});
    let inputs = Inputs {
        status: Some(&previous),
        generation: 2,
        manifest: &manifest,
        plugin: &plugin,
        now: "T1",
    };
    let failed = result(Outcome::Fail(Failure {
        reason: "OutOfFuel".into(),
        message: "used up its fuel".into(),
        retryable: true,
    }));
    let decision = after_reconcile(inputs, "Pending", &failed);
    assert_eq!(decision.state, "Pending");
    assert_eq!(decision.requeue, Requeue::Backoff);
    assert_eq!(decision.status["url"], "https://a/");
    assert_eq!(condition(&decision.status, "Ready")["reason"], "OutOfFuel");
    assert_eq!(condition(&decision.status, "Stalled")["status"], "True");
    assert_eq!(decision.events[0].type_, EventType::Warning);
    assert_eq!(decision.events[0].reason, "OutOfFuel");
}

#[test]
fn plugin_conditions_are_merged_with_the_ones_set_before() {
    let (manifest, plugin) = (manifest(), plugin());
    let inputs =
        Inputs { status: None, generation: 1, manifest: &manifest, plugin: &plugin, now: "T1" };
    let mut first = result(Outcome::Settled);
    first.conditions.push(Condition {
        type_: "SpecValid".into(),
        status: ConditionStatus::True,
        reason: "Checked".into(),
        message: String::new(),
    });
    let after_first = after_reconcile(inputs, "Pending", &first);
    let second = Inputs { status: Some(&after_first.status), ..inputs };
    let after_second = after_reconcile(second, "Pending", &result(Outcome::Settled));
    assert_eq!(condition(&after_second.status, "SpecValid")["reason"], "Checked");
}

#[test]
fn finalize_done_releases_the_finalizer_and_failure_keeps_it_with_backoff() {
    let (manifest, plugin) = (manifest(), plugin());
    let inputs =
        Inputs { status: None, generation: 1, manifest: &manifest, plugin: &plugin, now: "T1" };
    let done = FinalizeResult {
        outcome: FinalizeOutcome::Done,
        status: None,
        conditions: vec![],
        note: Some("unpublished".into()),
    };
    let released = after_finalize(inputs, "Ready", &done);
    assert!(released.release_finalizer);
    assert_eq!(released.events[0].message, "clean-up of state Ready is done: unpublished");
    let failed = FinalizeResult::failed(Failure {
        reason: "Unreachable".into(),
        message: "dns api down".into(),
        retryable: false,
    });
    let kept = after_finalize(inputs, "Ready", &failed);
    assert!(!kept.release_finalizer);
    assert_eq!(kept.requeue, Requeue::Backoff);
}

#[test]
fn an_unknown_phase_is_reported_and_left_in_place() {
    let (manifest, plugin) = (manifest(), plugin());
    let previous = json!({"phase": "Exploded"});
    let inputs = Inputs {
        status: Some(&previous),
        generation: 1,
        manifest: &manifest,
        plugin: &plugin,
        now: "T1",
    };
    assert_eq!(current_state(inputs.status, &manifest), "Exploded");
    let decision = unknown_state(inputs, "Exploded");
    assert_eq!(decision.status["phase"], "Exploded");
    assert_eq!(decision.requeue, Requeue::OnChange);
    assert_eq!(condition(&decision.status, "Ready")["reason"], "UnknownState");
    assert!(decision.events[0].message.contains("Pending, Ready"));
}
