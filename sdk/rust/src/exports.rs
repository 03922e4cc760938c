//! The bridge from a [`Plugin`] to the contract's exports.

use std::marker::PhantomData;

use serde::Serialize;

use crate::bindings::Guest;
use crate::bindings::hotloop::plugin::types as wit;
use crate::definition::{Definition, Kind, Plugin, StateKind};
use crate::object::{Context, Object};
use crate::result::{Condition, ConditionStatus, Failure, Finalize, FinalizeNext, Next, Reconcile};

/// Implements the contract for `P`; instantiated by [`crate::export!`].
#[derive(Debug)]
pub struct Exports<P>(PhantomData<P>);

impl<P: Plugin> Guest for Exports<P> {
    fn manifest() -> wit::Manifest {
        manifest(&P::define())
    }

    fn reconcile(state: String, object: String, context: wit::Context) -> wit::ReconcileResult {
        let definition = P::define();
        let context = Context::from(context);
        let outcome = read_object::<P>(&object).and_then(|object| {
            let Some(declared) = definition.states.get(&state) else {
                return Err(Failure::permanent("UnknownState", unknown_state(&state)));
            };
            (declared.reconcile)(&object, &context)
        });
        match outcome {
            Ok(result) => reconcile_result(result),
            Err(failure) => wit::ReconcileResult {
                outcome: wit::Outcome::Fail(wit_failure(failure)),
                status: None,
                conditions: Vec::new(),
                note: None,
            },
        }
    }

    fn finalize(state: String, object: String, context: wit::Context) -> wit::FinalizeResult {
        let definition = P::define();
        let context = Context::from(context);
        let outcome = read_object::<P>(&object).and_then(|object| {
            match definition.states.get(&state).map(|declared| declared.finalize) {
                Some(Some(handler)) => handler(&object, &context),
                // A state without clean-up has nothing to do on deletion.
                Some(None) => Ok(Finalize::done()),
                None => Err(Failure::permanent("UnknownState", unknown_state(&state))),
            }
        });
        match outcome {
            Ok(result) => finalize_result(result),
            Err(failure) => wit::FinalizeResult {
                outcome: wit::FinalizeOutcome::Fail(wit_failure(failure)),
                status: None,
                conditions: Vec::new(),
                note: None,
            },
        }
    }
}

fn unknown_state(state: &str) -> String {
    format!("the plugin has no state {state:?}")
}

fn read_object<P: Plugin>(json: &str) -> Result<Object<P::Spec, P::Status>, Failure> {
    serde_json::from_str(json).map_err(|error| {
        Failure::permanent(
            "InvalidObject",
            format!("the object does not match the plugin's spec or status: {error}"),
        )
    })
}

fn manifest<P: Plugin>(definition: &Definition<P>) -> wit::Manifest {
    let states = definition
        .order
        .iter()
        .filter_map(|name| {
            let state = definition.states.get(name)?;
            Some(wit::StateDecl {
                name: name.clone(),
                kind: match state.kind {
                    StateKind::InProgress => wit::StateKind::InProgress,
                    StateKind::SettledReady => wit::StateKind::SettledReady,
                    StateKind::SettledFailed => wit::StateKind::SettledFailed,
                },
                finalizes: state.finalize.is_some(),
            })
        })
        .collect();
    wit::Manifest {
        name: definition.name.clone(),
        version: definition.version.clone(),
        // An empty kind is reported by the host as a manifest without a reconciled kind.
        reconciles: kind_ref(&definition.reconciles.unwrap_or(Kind::namespaced("", "", "", ""))),
        owns: definition.owns.iter().map(kind_ref).collect(),
        reads: definition.reads.iter().map(kind_ref).collect(),
        states,
        transitions: definition
            .transitions
            .iter()
            .map(|(from, to)| wit::Transition { from: from.clone(), to: to.clone() })
            .collect(),
        initial_state: definition.initial_state(),
        finalizer: definition.needs_finalizer(),
    }
}

fn kind_ref(kind: &Kind) -> wit::KindRef {
    wit::KindRef {
        group: kind.group.to_owned(),
        version: kind.version.to_owned(),
        kind: kind.kind.to_owned(),
        plural: kind.plural.to_owned(),
        namespaced: kind.namespaced,
    }
}

fn wit_failure(failure: Failure) -> wit::Failure {
    wit::Failure { reason: failure.reason, message: failure.message, retryable: failure.retryable }
}

fn wit_conditions(conditions: Vec<Condition>) -> Vec<wit::Condition> {
    conditions
        .into_iter()
        .map(|condition| wit::Condition {
            type_: condition.type_,
            status: match condition.status {
                ConditionStatus::True => wit::ConditionStatus::True,
                ConditionStatus::False => wit::ConditionStatus::False,
                ConditionStatus::Unknown => wit::ConditionStatus::Unknown,
            },
            reason: condition.reason,
            message: condition.message,
        })
        .collect()
}

fn status_json<S: Serialize>(status: Option<S>) -> Result<Option<String>, Failure> {
    status
        .map(|status| serde_json::to_string(&status))
        .transpose()
        .map_err(|error| Failure::permanent("InvalidStatus", error.to_string()))
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn reconcile_result<S: Serialize>(result: Reconcile<S>) -> wit::ReconcileResult {
    let status = match status_json(result.status) {
        Ok(status) => status,
        Err(failure) => {
            return wit::ReconcileResult {
                outcome: wit::Outcome::Fail(wit_failure(failure)),
                status: None,
                conditions: Vec::new(),
                note: None,
            };
        }
    };
    wit::ReconcileResult {
        outcome: match result.next {
            Next::Transition(state) => wit::Outcome::Transition(state),
            Next::Requeue(after) => wit::Outcome::Requeue(millis(after)),
            Next::Settled => wit::Outcome::Settled,
        },
        status,
        conditions: wit_conditions(result.conditions),
        note: result.note,
    }
}

fn finalize_result<S: Serialize>(result: Finalize<S>) -> wit::FinalizeResult {
    let status = match status_json(result.status) {
        Ok(status) => status,
        Err(failure) => {
            return wit::FinalizeResult {
                outcome: wit::FinalizeOutcome::Fail(wit_failure(failure)),
                status: None,
                conditions: Vec::new(),
                note: None,
            };
        }
    };
    wit::FinalizeResult {
        outcome: match result.next {
            FinalizeNext::Done => wit::FinalizeOutcome::Done,
            FinalizeNext::Requeue(after) => wit::FinalizeOutcome::Requeue(millis(after)),
        },
        status,
        conditions: wit_conditions(result.conditions),
        note: result.note,
    }
}
