//! Placeholder: filled in by the governance domain work (issue 3).
