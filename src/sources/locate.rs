//! Finding the line of an entry or a field in YAML text, so that errors can
//! name file, line and field. The YAML parser keeps no positions for values,
//! so this scans the text for the key as YAML writes it (block or flow).

/// Whether `line` holds `key: value` (block or flow style, quoted or not).
fn holds_pair(line: &str, key: &str, value: &str) -> bool {
    let Some(at) = find_key(line, key) else {
        return false;
    };
    let rest = line[at + key.len() + 1..].trim_start();
    let unquoted = rest.trim_start_matches(['"', '\'']);
    unquoted.starts_with(value)
        && unquoted[value.len()..]
            .chars()
            .next()
            .is_none_or(|c| matches!(c, '"' | '\'' | ',' | '}' | ' ' | '#'))
}

/// Byte offset of `key:` used as a mapping key in `line`.
fn find_key(line: &str, key: &str) -> Option<usize> {
    let pattern = format!("{key}:");
    let mut start = 0;
    while let Some(found) = line[start..].find(&pattern) {
        let at = start + found;
        let before = line[..at].trim_end();
        let boundary = before.is_empty()
            || before.ends_with('-')
            || before.ends_with('{')
            || before.ends_with(',');
        let quoted_key = before.ends_with('"') || before.ends_with('\'');
        if boundary && !quoted_key {
            return Some(at);
        }
        start = at + pattern.len();
    }
    None
}

/// 1-based line of the first `key: value` at or after line `from` (1-based).
pub fn entry_line(text: &str, key: &str, value: &str) -> Option<u32> {
    entry_line_after(text, key, value, 1)
}

/// Like [`entry_line`], starting at line `from`.
pub fn entry_line_after(text: &str, key: &str, value: &str, from: u32) -> Option<u32> {
    let lines: Vec<&str> = text.lines().collect();
    entry_line_in(&lines, key, value, from)
}

/// Like [`entry_line_after`] over lines split once, so that locating every
/// entry of a large file stays linear.
pub fn entry_line_in(lines: &[&str], key: &str, value: &str, from: u32) -> Option<u32> {
    if value.is_empty() {
        return None;
    }
    let start = (from.saturating_sub(1) as usize).min(lines.len());
    lines[start..]
        .iter()
        .position(|line| holds_pair(line, key, value))
        .map(|i| (start + i) as u32 + 1)
}

/// 1-based line of the first line at or after `from` that uses `key` as a
/// mapping key.
pub fn key_line(text: &str, key: &str, from: u32) -> Option<u32> {
    if key.is_empty() {
        return None;
    }
    text.lines()
        .enumerate()
        .skip(from.saturating_sub(1) as usize)
        .find(|(_, line)| find_key(line, key).is_some())
        .map(|(i, _)| i as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "agents:\n  - name: alpha\n    version: '1'\n  - name: \"beta\"\n    agentType: bogus\n  - {name: gamma, version: '2'}\n";

    #[test]
    fn entries_are_found_in_block_and_flow_style() {
        assert_eq!(entry_line(TEXT, "name", "alpha"), Some(2));
        assert_eq!(entry_line(TEXT, "name", "beta"), Some(4));
        assert_eq!(entry_line(TEXT, "name", "gamma"), Some(6));
        assert_eq!(entry_line(TEXT, "name", "alph"), None);
    }

    #[test]
    fn fields_are_found_after_their_entry() {
        assert_eq!(key_line(TEXT, "agentType", 4), Some(5));
        assert_eq!(key_line(TEXT, "version", 4), Some(6));
        assert_eq!(key_line(TEXT, "missing", 1), None);
    }
}
