//! Label selectors as plugins pass them to `list`.

use serde_json::Value;

/// Whether `labels` match a selector of `key=value`, `key!=value`, `key` and `!key` terms.
pub(crate) fn matches(selector: &str, labels: &Value) -> bool {
    selector.split(',').map(str::trim).filter(|term| !term.is_empty()).all(|term| {
        if let Some((key, value)) = term.split_once("!=") {
            labels[key.trim()] != value.trim()
        } else if let Some((key, value)) = term.split_once('=') {
            labels[key.trim().trim_end_matches('=')] == value.trim().trim_start_matches('=')
        } else if let Some(key) = term.strip_prefix('!') {
            labels.get(key.trim()).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_match_equality_inequality_and_existence() {
        let labels = json!({"app": "web", "tier": "front"});
        assert!(matches("", &labels));
        assert!(matches("app=web", &labels));
        assert!(matches("app==web,tier", &labels));
        assert!(!matches("app!=web", &labels));
        assert!(matches("!missing", &labels));
        assert!(!matches("app=db", &labels));
    }
}
