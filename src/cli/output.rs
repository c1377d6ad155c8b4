//! Output forms. JSON is the proto3 JSON mapping of the response message
//! (lowerCamelCase names, 64-bit integers as strings, RFC 3339 times),
//! produced generically from the server's descriptor set with prost-reflect,
//! so it is the same document grpcurl or the HTTP API would print; YAML is
//! that JSON re-serialized, so its keys are identical. Tables are for
//! people: uppercase headers, cells cut to their width with `…`.

use std::io::Write;
use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

use super::config::Format;
use super::errors::CliError;

/// The server's descriptor set, decoded once.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set decodes")
});

/// Widest a table cell gets unless its column says otherwise.
pub const MAX_CELL: usize = 48;

/// The proto3 JSON form of `message`, whose full proto name is `full_name`
/// (for example `catalog.v1alpha1.AssetResource`).
pub fn to_json<M: Message>(full_name: &str, message: &M) -> Value {
    let descriptor = POOL
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is in the descriptor set"));
    let dynamic = DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice())
        .expect("a message re-decodes with its own descriptor");
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .expect("proto3 JSON serialization of a valid message")
}

/// Parses the proto3 JSON form of a message (the inverse of [`to_json`]).
pub fn from_json<M: Message + Default>(full_name: &str, value: &Value) -> Result<M, CliError> {
    let descriptor = POOL
        .get_message_by_name(full_name)
        .unwrap_or_else(|| panic!("{full_name} is in the descriptor set"));
    let dynamic = DynamicMessage::deserialize(descriptor, value)
        .map_err(|e| CliError::usage(format!("not a valid {full_name}: {e}")))?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| CliError::Other(format!("cannot convert {full_name}: {e}")))
}

/// A JSON object as a `google.protobuf.Struct`.
pub fn to_struct(value: &Value) -> Result<prost_types::Struct, CliError> {
    from_json("google.protobuf.Struct", value)
}

/// Prints a document in JSON or YAML.
pub fn print_document(format: Format, value: &Value) -> Result<(), CliError> {
    // Struct numbers are doubles: print 4096, not 4096.0, as protojson does.
    let value = &tidy(value);
    let text = match format {
        Format::Yaml => serde_norway::to_string(value)
            .map_err(|e| CliError::Other(format!("cannot write YAML: {e}")))?,
        Format::Json | Format::Table => {
            let mut text = serde_json::to_string_pretty(value)
                .map_err(|e| CliError::Other(format!("cannot write JSON: {e}")))?;
            text.push('\n');
            text
        }
    };
    write_stdout(&text)
}

/// Writes to stdout, treating a closed pipe (`| head`) as success.
pub fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// The value at a dot-path (`governance.lifecycle.state`); `[]` steps into
/// every element of a list (`tools[].skillRef`).
pub fn at_path(value: &Value, path: &str) -> Option<Value> {
    fn walk(value: &Value, parts: &[&str]) -> Option<Value> {
        let Some((first, rest)) = parts.split_first() else {
            return Some(value.clone());
        };
        if let Some(key) = first.strip_suffix("[]") {
            let list = value.get(key)?.as_array()?;
            let items: Vec<Value> = list.iter().filter_map(|v| walk(v, rest)).collect();
            return Some(Value::Array(items));
        }
        walk(value.get(*first)?, rest)
    }
    let parts: Vec<&str> = path.split('.').filter(|p| !p.is_empty()).collect();
    walk(value, &parts).filter(|v| !v.is_null())
}

/// A value as one line of text: strings bare, lists comma-joined, objects
/// as compact JSON.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.replace('\n', " "),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| cell(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => tidy(other).to_string(),
    }
}

/// `value` with integral floats as integers (Struct numbers are doubles,
/// so a record's `4096` reads back as `4096.0`).
pub fn tidy(value: &Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(tidy).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), tidy(v))).collect())
        }
        other => other.clone(),
    }
}

/// Cuts `text` to `width` characters, ending with `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width || width == 0 {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A table: uppercase headers, left-aligned cells, two spaces apart.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    widths: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers (uppercased), each cut at [`MAX_CELL`].
    pub fn new<S: AsRef<str>>(headers: impl IntoIterator<Item = S>) -> Table {
        let headers: Vec<String> = headers
            .into_iter()
            .map(|h| h.as_ref().to_uppercase())
            .collect();
        let widths = vec![MAX_CELL; headers.len()];
        Table {
            headers,
            widths,
            rows: Vec::new(),
        }
    }

    /// Sets the widest column `index` may be.
    pub fn max_width(mut self, index: usize, width: usize) -> Table {
        if let Some(w) = self.widths.get_mut(index) {
            *w = width;
        }
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row.
    pub fn render(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, c)| truncate(c, self.widths.get(i).copied().unwrap_or(MAX_CELL)))
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(c.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    out.push_str(c);
                } else {
                    let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                    out.push_str(c);
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(&self.headers);
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }
}

/// Whether stderr is a terminal: progress is shown there only then, so
/// piped and scripted runs stay quiet.
pub fn interactive() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// The footer of a list that has more pages.
pub fn more_footer(count: usize, next_page_token: &str) -> String {
    if next_page_token.is_empty() {
        String::new()
    } else {
        format!("{count} items (more: use --page-token {next_page_token} or --all)\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_nested_and_listed_values() {
        let v = json!({"a": {"b": 1}, "tools": [{"skillRef": "x"}, {"skillRef": "y"}]});
        assert_eq!(at_path(&v, "a.b"), Some(json!(1)));
        assert_eq!(at_path(&v, "tools[].skillRef"), Some(json!(["x", "y"])));
        assert_eq!(at_path(&v, "a.c"), None);
        assert_eq!(cell(at_path(&v, "tools[].skillRef").as_ref()), "x,y");
    }

    #[test]
    fn tables_align_and_truncate() {
        let mut t = Table::new(["name", "state"]).max_width(0, 5);
        t.row(vec!["incident-planner".into(), "draft".into()]);
        t.row(vec!["a".into(), "approved".into()]);
        assert_eq!(t.render(), "NAME   STATE\ninci…  draft\na      approved\n");
    }

    #[test]
    fn messages_print_as_proto3_json() {
        let binding = crate::proto::catalog::governance::v1alpha1::Binding {
            environment: "prod".into(),
            version_id: "v1".into(),
            configured: true,
            ..Default::default()
        };
        let json = to_json("catalog.governance.v1alpha1.Binding", &binding);
        assert_eq!(
            json,
            json!({"environment": "prod", "versionId": "v1", "configured": true})
        );
        let back: crate::proto::catalog::governance::v1alpha1::Binding =
            from_json("catalog.governance.v1alpha1.Binding", &json).unwrap();
        assert_eq!(back, binding);
    }
}
