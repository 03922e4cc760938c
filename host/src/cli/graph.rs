//! `hotloop inspect --graph`: a plugin's state machine as a Mermaid state diagram.
//!
//! The diagram shows every declared state with its kind (in progress, settled ready, settled
//! failed) as a description line and as a colour, the initial state as the arrow from `[*]`,
//! each allowed transition as an arrow, and a second description line on the states that
//! have a finalize handler. Staying in a state is always allowed and is not drawn.

use crate::contract::{Manifest, StateKind};

/// The Mermaid class a state of this kind gets, and its colours.
fn class_of(kind: StateKind) -> (&'static str, &'static str) {
    match kind {
        StateKind::InProgress => ("inProgress", "fill:#fff4d6,stroke:#b7791f"),
        StateKind::SettledReady => ("settledReady", "fill:#e3f6e8,stroke:#2f855a"),
        StateKind::SettledFailed => ("settledFailed", "fill:#fde2e1,stroke:#c53030"),
    }
}

fn kind_label(kind: StateKind) -> &'static str {
    match kind {
        StateKind::InProgress => "in progress",
        StateKind::SettledReady => "settled, ready",
        StateKind::SettledFailed => "settled, failed",
    }
}

/// The identifier a state has in the diagram: its own name when Mermaid accepts it as one,
/// otherwise `state_N` with the name declared as its label.
fn diagram_id(index: usize, name: &str) -> String {
    let plain = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    // `end` and `state` are words of the diagram language.
    if plain && !matches!(name, "end" | "state") {
        name.to_owned()
    } else {
        format!("state_{index}")
    }
}

/// The state machine of `manifest` as a Mermaid `stateDiagram-v2`, ending with a newline.
pub(super) fn mermaid(manifest: &Manifest) -> String {
    let ids: Vec<String> =
        manifest.states.iter().enumerate().map(|(i, s)| diagram_id(i, &s.name)).collect();
    let id_of = |name: &str| -> String {
        manifest
            .states
            .iter()
            .position(|s| s.name == name)
            .map_or(name.to_owned(), |i| ids[i].clone())
    };
    let mut out = String::from("stateDiagram-v2\n");
    out += &format!(
        "    %% {} {}: states of {}\n",
        manifest.name, manifest.version, manifest.reconciles
    );
    for (state, id) in manifest.states.iter().zip(&ids) {
        if *id != state.name {
            out += &format!("    state \"{}\" as {id}\n", state.name);
        }
        out += &format!("    {id} : {}\n", kind_label(state.kind));
        if state.finalizes {
            out += &format!("    {id} : finalize handler\n");
        }
    }
    out += &format!("    [*] --> {}\n", id_of(&manifest.initial_state));
    for transition in &manifest.transitions {
        if transition.from != transition.to {
            out += &format!("    {} --> {}\n", id_of(&transition.from), id_of(&transition.to));
        }
    }
    for kind in [StateKind::InProgress, StateKind::SettledReady, StateKind::SettledFailed] {
        let members: Vec<&str> = manifest
            .states
            .iter()
            .zip(&ids)
            .filter(|(state, _)| state.kind == kind)
            .map(|(_, id)| id.as_str())
            .collect();
        if members.is_empty() {
            continue;
        }
        let (class, style) = class_of(kind);
        out += &format!("    classDef {class} {style}\n");
        out += &format!("    class {} {class}\n", members.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::sample_manifest::sample;
    use super::*;
    use crate::contract::{StateDecl, Transition};

    #[test]
    fn the_initial_state_and_every_transition_are_arrows() {
        let diagram = mermaid(&sample());
        assert!(diagram.starts_with("stateDiagram-v2\n"));
        assert!(diagram.contains("    [*] --> Pending\n"));
        assert!(diagram.contains("    Pending --> Ready\n"));
        assert!(diagram.contains("    Pending --> Invalid\n"));
    }

    #[test]
    fn each_state_is_labelled_and_coloured_by_its_kind() {
        let diagram = mermaid(&sample());
        assert!(diagram.contains("    Ready : settled, ready\n"));
        assert!(diagram.contains("    Invalid : settled, failed\n"));
        assert!(diagram.contains("    class Pending inProgress\n"));
        assert!(diagram.contains("    class Invalid settledFailed\n"));
    }

    #[test]
    fn states_with_clean_up_say_so() {
        let mut manifest = sample();
        manifest.states[1].finalizes = true;
        let diagram = mermaid(&manifest);
        assert!(diagram.contains("    Ready : finalize handler\n"));
        assert!(!diagram.contains("Pending : finalize handler"));
    }

    #[test]
    fn names_mermaid_cannot_take_as_identifiers_get_an_alias() {
        let mut manifest = sample();
        manifest.states.push(StateDecl {
            name: "tearing-down".into(),
            kind: StateKind::InProgress,
            finalizes: false,
        });
        manifest.transitions.push(Transition { from: "Ready".into(), to: "tearing-down".into() });
        let diagram = mermaid(&manifest);
        assert!(diagram.contains("    state \"tearing-down\" as state_3\n"));
        assert!(diagram.contains("    Ready --> state_3\n"));
        assert!(diagram.contains("    class Pending, state_3 inProgress\n"));
    }
}
