//! Per-plugin sandbox limits, from annotations on the plugin's ConfigMap.
//!
//! | annotation | limit | unit |
//! |---|---|---|
//! | `hotloop.dev/fuel` | fuel per call | units (about 10^7 per ms of CPU) |
//! | `hotloop.dev/deadline-ms` | wall time per call | milliseconds |
//! | `hotloop.dev/memory-mib` | linear memory | MiB |
//! | `hotloop.dev/host-calls` | host calls per call | calls |
//! | `hotloop.dev/output-kib` | size of a result | KiB |
//!
//! A missing annotation keeps the host's default (`hotloop run --default-*`, otherwise
//! [`Limits::default`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::runtime::Limits;

/// An annotation whose value is not a whole positive number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {annotation} is {value:?}; it takes a whole number above zero")]
pub struct LimitError {
    pub annotation: &'static str,
    pub value: String,
}

fn number(
    annotations: &BTreeMap<String, String>,
    annotation: &'static str,
) -> Result<Option<u64>, LimitError> {
    let Some(value) = annotations.get(annotation) else { return Ok(None) };
    match value.trim().parse::<u64>() {
        Ok(number) if number > 0 => Ok(Some(number)),
        _ => Err(LimitError { annotation, value: value.clone() }),
    }
}

/// The limits the annotations ask for, on top of `defaults`.
///
/// # Errors
/// The first annotation that is not a whole positive number.
pub fn from_annotations(
    annotations: &BTreeMap<String, String>,
    defaults: Limits,
) -> Result<Limits, LimitError> {
    let mut limits = defaults;
    if let Some(fuel) = number(annotations, "hotloop.dev/fuel")? {
        limits.fuel = fuel;
    }
    if let Some(ms) = number(annotations, "hotloop.dev/deadline-ms")? {
        limits.deadline = Duration::from_millis(ms);
    }
    if let Some(mib) = number(annotations, "hotloop.dev/memory-mib")? {
        limits.memory_bytes = usize::try_from(mib).unwrap_or(usize::MAX).saturating_mul(1 << 20);
    }
    if let Some(calls) = number(annotations, "hotloop.dev/host-calls")? {
        limits.host_calls = u32::try_from(calls).unwrap_or(u32::MAX);
    }
    if let Some(kib) = number(annotations, "hotloop.dev/output-kib")? {
        limits.output_bytes = usize::try_from(kib).unwrap_or(usize::MAX).saturating_mul(1 << 10);
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn annotations_override_only_the_limits_they_name() {
        let defaults = Limits { fuel: 5_000, ..Limits::default() };
        let limits = from_annotations(
            &annotations(&[("hotloop.dev/deadline-ms", "250"), ("hotloop.dev/memory-mib", "16")]),
            defaults,
        )
        .unwrap();
        assert_eq!(limits.deadline, Duration::from_millis(250));
        assert_eq!(limits.memory_bytes, 16 << 20);
        assert_eq!(limits.fuel, 5_000, "the host's default stays where no annotation speaks");
    }

    #[test]
    fn a_limit_that_is_not_a_positive_number_is_named_in_the_error() {
        let error =
            from_annotations(&annotations(&[("hotloop.dev/fuel", "lots")]), Limits::default())
                .unwrap_err();
        assert_eq!(error.annotation, "hotloop.dev/fuel");
        assert!(error.to_string().contains("\"lots\""));
    }
}
