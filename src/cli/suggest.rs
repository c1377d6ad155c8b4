//! "Did you mean" for names the user mistyped: plugins, kinds, filter
//! fields, contexts. Candidates always come from the server's answers
//! (capabilities) or the config file, never from a list in the code.

/// The candidate closest to `input`, when one is close enough.
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let needle = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&needle, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A hint line: `did you mean "x"?` or the list of valid names.
pub fn hint<'a, I>(input: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let all: Vec<&str> = candidates.into_iter().collect();
    match closest(input, all.iter().copied()) {
        Some(best) => Some(format!("did you mean {best:?}?")),
        None if all.is_empty() => None,
        None => Some(format!("one of: {}", all.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_its_name() {
        assert_eq!(
            closest("agnets", ["agents", "models", "mcp"]),
            Some("agents")
        );
        assert_eq!(
            closest("AGENTTYPE", ["agentType", "category"]),
            Some("agentType")
        );
        assert_eq!(closest("zzz", ["agents", "models"]), None);
    }

    #[test]
    fn the_hint_lists_names_when_nothing_is_close() {
        assert_eq!(
            hint("agnets", ["agents"]).as_deref(),
            Some("did you mean \"agents\"?")
        );
        assert_eq!(hint("zzz", ["a1", "b2"]).as_deref(), Some("one of: a1, b2"));
    }
}
