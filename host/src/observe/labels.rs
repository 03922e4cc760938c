//! The label sets of the host's metrics, and the label values the controller records.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

use crate::contract::{FinalizeOutcome, Outcome};

/// The `result` label of `hotloop_reconciles_total` for a reconcile call's outcome:
/// `transition`, `requeue`, `settled` or `fail`.
pub fn reconcile_result(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Transition { .. } => "transition",
        Outcome::Requeue { .. } => "requeue",
        Outcome::Settled => "settled",
        Outcome::Fail(_) => "fail",
    }
}

/// The `result` label of `hotloop_reconciles_total` for a finalize call's outcome:
/// `finalized`, `finalize_requeue` or `finalize_fail`, kept apart from the reconcile results.
pub fn finalize_result(outcome: &FinalizeOutcome) -> &'static str {
    match outcome {
        FinalizeOutcome::Done => "finalized",
        FinalizeOutcome::Requeue { .. } => "finalize_requeue",
        FinalizeOutcome::Fail(_) => "finalize_fail",
    }
}

/// A label value, escaped for the text format as it is encoded.
///
/// prometheus-client 0.24 writes label values as they are, so a `"`, a `\` or a line break in
/// one would corrupt the whole scrape. Plugin names and states are validated, but the name of
/// a plugin that was rejected is whatever its source called it. The test
/// `label_values_are_escaped_exactly_once` pins this; drop the escaping if upstream adds its own.
#[derive(Clone, Hash, PartialEq, Eq, Debug)]
pub(super) struct LabelValue(String);

impl From<&str> for LabelValue {
    fn from(value: &str) -> Self {
        LabelValue(value.to_owned())
    }
}

impl EncodeLabelValue for LabelValue {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        if !self.0.contains(['\\', '"', '\n']) {
            return encoder.write_str(&self.0);
        }
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub(super) struct PluginLabels {
    pub plugin: LabelValue,
}

#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub(super) struct ReconcileLabels {
    pub plugin: LabelValue,
    pub state: LabelValue,
    pub result: LabelValue,
}

#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub(super) struct SandboxFailureLabels {
    pub plugin: LabelValue,
    pub kind: LabelValue,
}

#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub(super) struct ApiRequestLabels {
    pub plugin: LabelValue,
    pub verb: LabelValue,
}

/// For plugin loads and swaps.
#[derive(Clone, Hash, PartialEq, Eq, EncodeLabelSet, Debug)]
pub(super) struct PluginResultLabels {
    pub plugin: LabelValue,
    pub result: LabelValue,
}

impl PluginLabels {
    pub fn new(plugin: &str) -> Self {
        PluginLabels { plugin: plugin.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Failure;

    fn failure() -> Failure {
        Failure { reason: "Broken".into(), message: "broken".into(), retryable: true }
    }

    #[test]
    fn every_reconcile_outcome_has_its_own_result_label() {
        let labels = [
            reconcile_result(&Outcome::Transition { to: "Ready".into() }),
            reconcile_result(&Outcome::Requeue { after_ms: 1 }),
            reconcile_result(&Outcome::Settled),
            reconcile_result(&Outcome::Fail(failure())),
        ];
        assert_eq!(labels, ["transition", "requeue", "settled", "fail"]);
    }

    #[test]
    fn finalize_results_are_told_apart_from_reconcile_results() {
        let labels = [
            finalize_result(&FinalizeOutcome::Done),
            finalize_result(&FinalizeOutcome::Requeue { after_ms: 1 }),
            finalize_result(&FinalizeOutcome::Fail(failure())),
        ];
        assert_eq!(labels, ["finalized", "finalize_requeue", "finalize_fail"]);
    }
}
