//! Governance rules, free of transport and storage: lifecycle states and
//! transitions, governance metadata, versions and bindings, approval
//! policies and approval requests. The governance application service
//! (src/governance) applies them inside database transactions.

pub mod approval;
pub mod config;
pub mod legacy;
pub mod lifecycle;
pub mod metadata;
pub mod policy;
pub mod version;

use serde::{Deserialize, Serialize};

/// Lifecycle state of an asset or a version (spec 03 §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Newly discovered; editable; bindable only where approval is not required.
    Draft,
    /// Safe for its intended use; bindable everywhere.
    Approved,
    /// Not for new work; existing bindings stay.
    Deprecated,
    /// Hidden from default lists; never bindable.
    Archived,
}

impl State {
    /// Every state, in table order.
    pub const ALL: [State; 4] = [
        State::Draft,
        State::Approved,
        State::Deprecated,
        State::Archived,
    ];

    /// Reads a state, case-insensitively; the legacy spellings `active` and
    /// `retired` mean approved and archived.
    pub fn parse(text: &str) -> Option<State> {
        match text.trim().to_ascii_lowercase().as_str() {
            "draft" => Some(State::Draft),
            "approved" | "active" => Some(State::Approved),
            "deprecated" => Some(State::Deprecated),
            "archived" | "retired" => Some(State::Archived),
            _ => None,
        }
    }

    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Approved => "approved",
            State::Deprecated => "deprecated",
            State::Archived => "archived",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-fatal finding returned with a successful action (e.g.
/// DRAFT_BINDING, BOUND_VERSION_DEPRECATED).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Stable code.
    pub code: String,
    /// What a person should know.
    pub message: String,
}

impl Warning {
    /// A new warning.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Warning {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_state_names_are_read_as_canonical_ones() {
        assert_eq!(State::parse("Active"), Some(State::Approved));
        assert_eq!(State::parse("retired"), Some(State::Archived));
        assert_eq!(State::parse("promoted"), None);
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
        }
    }
}
