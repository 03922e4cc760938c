//! `misbehave`: a test plugin that breaks the rules on purpose, so that the host's sandbox can
//! be shown to hold. The object's `spec.mode` picks the misdeed; any other mode behaves.
//!
//! | mode | what the handler of `Start` does |
//! |---|---|
//! | `loop` | spins forever |
//! | `hog` | allocates memory until it gets no more |
//! | `panic` | panics |
//! | `recursion` | recurses without end |
//! | `oversized` | returns a 4 MiB status |
//! | `unknown-state` | moves to a state the manifest does not have |
//! | `forbidden-transition` | moves to a declared state the manifest does not allow |
//! | `flood` | calls the host 100,000 times, ignoring every error |
//! | `undeclared-read` | reads a Secret, a kind the manifest does not declare |
//! | `behave` (or anything else) | settles in `Done` |

use std::hint::black_box;

use hotloop_sdk::prelude::*;

pub const MISBEHAVIOR: Kind =
    Kind::namespaced("test.hotloop.dev", "v1", "Misbehavior", "misbehaviors");

#[derive(Debug, Default, Deserialize)]
pub struct Spec {
    #[serde(default)]
    pub mode: String,
}

#[derive(Debug)]
pub struct Misbehave;

impl Plugin for Misbehave {
    type Spec = Spec;
    type Status = serde_json::Value;

    fn define() -> Definition<Self> {
        Definition::new("misbehave", env!("CARGO_PKG_VERSION"))
            .reconciles(MISBEHAVIOR)
            .reads(Kind::CONFIG_MAP)
            .state("Start", StateKind::InProgress, start)
            .state("Detour", StateKind::InProgress, |_, _| Ok(Reconcile::transition("Done")))
            .state("Done", StateKind::SettledReady, |_, _| Ok(Reconcile::settled()))
            .transition("Start", "Done")
            .transition("Detour", "Done")
    }
}

hotloop_sdk::export!(Misbehave);

fn start(
    object: &Object<Spec, serde_json::Value>,
    _: &Context,
) -> Outcome<Reconcile<serde_json::Value>> {
    match object.spec.mode.as_str() {
        "loop" => spin(),
        "hog" => hog(),
        "panic" => panic!("misbehave was asked to panic"),
        "recursion" => {
            black_box(recurse(black_box(0)));
            Ok(Reconcile::settled())
        }
        "oversized" => {
            let filler = "x".repeat(4 * 1024 * 1024);
            Ok(Reconcile::transition("Done").status(serde_json::json!({ "filler": filler })))
        }
        "unknown-state" => Ok(Reconcile::transition("Nowhere")),
        "forbidden-transition" => Ok(Reconcile::transition("Detour")),
        "flood" => {
            for _ in 0..100_000 {
                let _ignored = host::get::<serde_json::Value>(&Kind::CONFIG_MAP, None, "anything");
            }
            Ok(Reconcile::transition("Done"))
        }
        "undeclared-read" => {
            let _secret: Option<serde_json::Value> = host::get(&Kind::SECRET, None, "credentials")?;
            Ok(Reconcile::transition("Done"))
        }
        _ => Ok(Reconcile::transition("Done")),
    }
}

fn spin() -> ! {
    let mut counter = 0_u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn hog() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0_u8; 1024 * 1024];
        chunk[0] = 1;
        hoard.push(black_box(chunk));
    }
}

#[allow(unconditional_recursion)] // on purpose: this plugin overflows its stack
fn recurse(depth: u64) -> u64 {
    black_box(recurse(black_box(depth + 1))) + 1
}
