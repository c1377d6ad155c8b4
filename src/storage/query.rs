//! List queries over the live catalog: a resolved filter tree compiled to
//! SQL for either dialect, with every value (and every JSON path) bound as a
//! parameter, plus keyset paging on a total order.

use serde_json::Value;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::Any;

use super::{Dialect, GOVERNANCE_JOIN};
use crate::domain::filter::{Literal, Op};
use crate::domain::paging::Cursor;
use crate::domain::{Error, Result};

/// A filter whose paths have been resolved against the plugin registry.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// All hold.
    And(Vec<Cond>),
    /// One holds.
    Or(Vec<Cond>),
    /// Does not hold.
    Not(Box<Cond>),
    /// A comparison.
    Cmp {
        /// What is compared.
        target: Target,
        /// Operator.
        op: Op,
        /// Values.
        values: Vec<Literal>,
    },
    /// The record came from one of these (plugin, source id) pairs.
    FromSources(Vec<(String, String)>),
    /// A constant.
    Const(bool),
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Asset name.
    Name,
    /// Plugin.
    Plugin,
    /// Kind.
    Kind,
    /// Source id.
    SourceId,
    /// Asset uid.
    Uid,
    /// A path inside the native record.
    Record(Vec<String>),
    /// A fixed value (for paths whose value does not vary yet).
    Fixed(Option<String>),
    /// A field of the governance overlay.
    Governance(GovField),
}

/// Governance fields lists can filter on (indexed columns of the overlay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GovField {
    /// lifecycle.state (draft when no overlay row exists yet).
    LifecycleState,
    /// risk.level.
    RiskLevel,
    /// owner.principal.
    Owner,
    /// team.name.
    Team,
    /// sla.tier.
    SlaTier,
    /// compliance.tags (contains).
    ComplianceTag,
}

/// The sort key.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    /// By name.
    Name,
    /// By creation time.
    CreatedAt,
    /// By update time.
    UpdatedAt,
    /// By a path inside the record.
    Record(Vec<String>),
}

/// A list query over effective records.
#[derive(Debug, Clone)]
pub struct RecordQuery {
    /// Restrict to these (plugin, kind) pairs; empty means all.
    pub scopes: Vec<(String, String)>,
    /// Resolved filter.
    pub filter: Option<Cond>,
    /// Case-insensitive substring over name, displayName, description.
    pub q: Option<String>,
    /// Sort key.
    pub order: OrderKey,
    /// Descending.
    pub descending: bool,
    /// Start after this position.
    pub after: Option<Cursor>,
    /// Page size.
    pub limit: u32,
    /// Count all matches.
    pub include_total: bool,
}

/// A bound parameter.
#[derive(Debug, Clone)]
pub enum Param {
    /// Text.
    Text(String),
    /// Float.
    Real(f64),
    /// Integer.
    Int(i64),
}

impl Param {
    /// Binds the parameter to a query.
    pub fn bind<'q>(&self, query: Query<'q, Any, AnyArguments>) -> Query<'q, Any, AnyArguments> {
        match self {
            Param::Text(s) => query.bind(s.clone()),
            Param::Real(f) => query.bind(*f),
            Param::Int(i) => query.bind(*i),
        }
    }
}

/// SQL built for a query.
pub struct Built {
    /// The page query (limit + 1 rows).
    pub select: String,
    /// Its parameters.
    pub params: Vec<Param>,
    /// The count query, when asked for.
    pub count: Option<String>,
    /// Its parameters.
    pub count_params: Vec<Param>,
}

struct Compiler<'a> {
    dialect: Dialect,
    params: Vec<Param>,
    /// SQL for an asset's lifecycle state ([`super::Store::lifecycle_sql`]).
    lifecycle: &'a str,
}

impl Compiler<'_> {
    fn push(&mut self, param: Param) -> String {
        self.params.push(param);
        format!("${}", self.params.len())
    }

    fn json_path(&mut self, path: &[String]) -> String {
        match self.dialect {
            Dialect::Sqlite => {
                let mut text = String::from("$");
                for segment in path {
                    text.push_str(&format!(".\"{}\"", segment.replace('"', "")));
                }
                self.push(Param::Text(text))
            }
            Dialect::Postgres => {
                let text = format!(
                    "{{{}}}",
                    path.iter()
                        .map(|s| format!("\"{}\"", s.replace('"', "")))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                format!("{}::text[]", self.push(Param::Text(text)))
            }
        }
    }

    fn cond(&mut self, cond: &Cond) -> String {
        match cond {
            Cond::Const(true) => "1 = 1".into(),
            Cond::Const(false) => "1 = 0".into(),
            Cond::And(items) => format!(
                "({})",
                items
                    .iter()
                    .map(|c| self.cond(c))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            ),
            Cond::Or(items) => format!(
                "({})",
                items
                    .iter()
                    .map(|c| self.cond(c))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
            Cond::Not(inner) => format!("(NOT {})", self.cond(inner)),
            Cond::FromSources(pairs) if pairs.is_empty() => "1 = 0".into(),
            Cond::FromSources(pairs) => {
                let tuples: Vec<String> = pairs
                    .iter()
                    .map(|(plugin, source)| {
                        let p = self.push(Param::Text(plugin.clone()));
                        let s = self.push(Param::Text(source.clone()));
                        format!("(r.plugin = {p} AND r.source_id = {s})")
                    })
                    .collect();
                format!("({})", tuples.join(" OR "))
            }
            Cond::Cmp { target, op, values } => match target {
                Target::Record(path) => self.record_cmp(path, *op, values),
                Target::Fixed(value) => self.fixed_cmp(value.as_deref(), *op, values),
                Target::Governance(GovField::ComplianceTag) => self.tag_cmp(*op, values),
                Target::Governance(field) => {
                    let column = match field {
                        GovField::LifecycleState => self.lifecycle,
                        GovField::RiskLevel => "g.risk_level",
                        GovField::Owner => "g.owner_principal",
                        GovField::Team => "g.team_name",
                        _ => "g.sla_tier",
                    };
                    self.text_cmp(column, *op, values)
                }
                column => {
                    let column = match column {
                        Target::Name => "r.name",
                        Target::Plugin => "r.plugin",
                        Target::Kind => "r.kind",
                        Target::SourceId => "r.source_id",
                        _ => "r.asset_uid",
                    };
                    self.text_cmp(column, *op, values)
                }
            },
        }
    }

    /// Compliance tags live in their own indexed table: `=` and `IN` mean
    /// "holds the tag", `!=` "does not hold it".
    fn tag_cmp(&mut self, op: Op, values: &[Literal]) -> String {
        let tags: Vec<String> = values
            .iter()
            .map(|v| self.push(Param::Text(literal_text(v))))
            .collect();
        let exists = format!(
            "EXISTS (SELECT 1 FROM asset_compliance_tags t WHERE t.asset_uid = g.asset_uid AND t.tag IN ({}))",
            tags.join(", ")
        );
        match op {
            Op::Eq | Op::In => exists,
            Op::Ne => format!("(NOT {exists})"),
            _ => "1 = 0".into(),
        }
    }

    fn text_cmp(&mut self, column: &str, op: Op, values: &[Literal]) -> String {
        let texts: Vec<String> = values.iter().map(literal_text).collect();
        match op {
            Op::In => {
                let list: Vec<String> = texts
                    .into_iter()
                    .map(|t| self.push(Param::Text(t)))
                    .collect();
                format!("{column} IN ({})", list.join(", "))
            }
            Op::Like => self.like(column, &texts[0], false),
            Op::ILike => self.like(column, &texts[0], true),
            _ => {
                let p = self.push(Param::Text(texts[0].clone()));
                format!("{column} {} {p}", sql_op(op))
            }
        }
    }

    fn like(&mut self, expr: &str, pattern: &str, insensitive: bool) -> String {
        match (self.dialect, insensitive) {
            // SQLite's LIKE ignores ASCII case, so the case-sensitive form
            // goes through GLOB with the pattern translated.
            (Dialect::Sqlite, false) => format!(
                "{expr} GLOB {}",
                self.push(Param::Text(like_to_glob(pattern)))
            ),
            (Dialect::Sqlite, true) => format!(
                "lower({expr}) LIKE lower({})",
                self.push(Param::Text(pattern.to_string()))
            ),
            (Dialect::Postgres, false) => format!(
                "{expr} LIKE {}",
                self.push(Param::Text(pattern.to_string()))
            ),
            (Dialect::Postgres, true) => format!(
                "{expr} ILIKE {}",
                self.push(Param::Text(pattern.to_string()))
            ),
        }
    }

    fn fixed_cmp(&mut self, value: Option<&str>, op: Op, values: &[Literal]) -> String {
        let Some(value) = value else {
            return "1 = 0".into();
        };
        let holds = match op {
            Op::Eq => values.iter().any(|v| literal_text(v) == value),
            Op::In => values.iter().any(|v| literal_text(v) == value),
            Op::Ne => values.iter().all(|v| literal_text(v) != value),
            _ => {
                let expr = self.push(Param::Text(value.to_string()));
                return self.text_cmp(&expr, op, values);
            }
        };
        if holds {
            "1 = 1".into()
        } else {
            "1 = 0".into()
        }
    }

    fn record_cmp(&mut self, path: &[String], op: Op, values: &[Literal]) -> String {
        let jp = self.json_path(path);
        match self.dialect {
            Dialect::Sqlite => self.sqlite_record_cmp(&jp, op, values),
            Dialect::Postgres => self.postgres_record_cmp(&jp, op, values),
        }
    }

    fn sqlite_value(&mut self, literal: &Literal) -> String {
        match literal {
            Literal::Str(s) => self.push(Param::Text(s.clone())),
            Literal::Num(n) => self.push(Param::Real(*n)),
            // json_extract turns JSON booleans into 1 and 0.
            Literal::Bool(b) => self.push(Param::Int(i64::from(*b))),
        }
    }

    fn sqlite_record_cmp(&mut self, jp: &str, op: Op, values: &[Literal]) -> String {
        let extract = format!("json_extract(r.record, {jp})");
        let is_array = format!("json_type(r.record, {jp}) = 'array'");
        match op {
            Op::Eq | Op::Ne => {
                let v = self.sqlite_value(&values[0]);
                let matches = format!(
                    "(CASE WHEN {is_array} THEN EXISTS (SELECT 1 FROM json_each(r.record, {jp}) e WHERE e.value = {v}) ELSE {extract} = {v} END)"
                );
                if op == Op::Eq {
                    matches
                } else {
                    format!("({extract} IS NOT NULL AND NOT {matches})")
                }
            }
            Op::In => {
                let list: Vec<String> = values.iter().map(|v| self.sqlite_value(v)).collect();
                let list = list.join(", ");
                format!(
                    "(CASE WHEN {is_array} THEN EXISTS (SELECT 1 FROM json_each(r.record, {jp}) e WHERE e.value IN ({list})) ELSE {extract} IN ({list}) END)"
                )
            }
            Op::Like | Op::ILike => {
                let guarded = format!(
                    "(json_type(r.record, {jp}) = 'text' AND {})",
                    self.like(&extract, &literal_text(&values[0]), op == Op::ILike)
                );
                guarded
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let kind = match values[0] {
                    Literal::Str(_) => "('text')",
                    Literal::Num(_) => "('integer', 'real')",
                    Literal::Bool(_) => "('true', 'false')",
                };
                let v = self.sqlite_value(&values[0]);
                format!(
                    "(json_type(r.record, {jp}) IN {kind} AND {extract} {} {v})",
                    sql_op(op)
                )
            }
        }
    }

    fn pg_value(&mut self, literal: &Literal) -> String {
        let json = match literal {
            Literal::Str(s) => Value::String(s.clone()),
            Literal::Num(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Literal::Bool(b) => Value::Bool(*b),
        };
        format!("{}::jsonb", self.push(Param::Text(json.to_string())))
    }

    fn postgres_record_cmp(&mut self, jp: &str, op: Op, values: &[Literal]) -> String {
        let node = format!("(r.record #> {jp})");
        match op {
            Op::Eq | Op::Ne => {
                let v = self.pg_value(&values[0]);
                let matches = format!("(CASE WHEN jsonb_typeof({node}) = 'array' THEN {node} @> jsonb_build_array({v}) ELSE {node} = {v} END)");
                if op == Op::Eq {
                    matches
                } else {
                    format!("({node} IS NOT NULL AND NOT {matches})")
                }
            }
            Op::In => {
                let list: Vec<String> = values.iter().map(|v| self.pg_value(v)).collect();
                let list = list.join(", ");
                format!(
                    "(CASE WHEN jsonb_typeof({node}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({node}) e(v) WHERE e.v IN ({list})) ELSE {node} IN ({list}) END)"
                )
            }
            Op::Like | Op::ILike => {
                let text = format!("({node} #>> '{{}}')");
                format!(
                    "(jsonb_typeof({node}) = 'string' AND {})",
                    self.like(&text, &literal_text(&values[0]), op == Op::ILike)
                )
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let v = self.pg_value(&values[0]);
                format!(
                    "(jsonb_typeof({node}) = jsonb_typeof({v}) AND {node} {} {v})",
                    sql_op(op)
                )
            }
        }
    }

    fn sort_expr(&mut self, order: &OrderKey) -> String {
        match order {
            OrderKey::Name => "r.name".into(),
            OrderKey::CreatedAt => "r.created_at".into(),
            OrderKey::UpdatedAt => "r.updated_at".into(),
            OrderKey::Record(path) => {
                let jp = self.json_path(path);
                match self.dialect {
                    // Missing values sort first, in both directions' reverse.
                    Dialect::Sqlite => format!("COALESCE(json_extract(r.record, {jp}), '')"),
                    Dialect::Postgres => format!("COALESCE(r.record #> {jp}, 'null'::jsonb)"),
                }
            }
        }
    }

    fn cursor_value(&mut self, order: &OrderKey, value: &Value) -> String {
        match (order, self.dialect) {
            (OrderKey::Record(_), Dialect::Postgres) => {
                format!("{}::jsonb", self.push(Param::Text(value.to_string())))
            }
            (OrderKey::Record(_), Dialect::Sqlite) => match value {
                Value::Number(n) => self.push(Param::Real(n.as_f64().unwrap_or(0.0))),
                Value::Bool(b) => self.push(Param::Int(i64::from(*b))),
                Value::String(s) => self.push(Param::Text(s.clone())),
                _ => self.push(Param::Text(String::new())),
            },
            _ => self.push(Param::Text(value.as_str().unwrap_or_default().to_string())),
        }
    }
}

fn sql_op(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "<>",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Like => "LIKE",
        Op::ILike => "ILIKE",
        Op::In => "IN",
    }
}

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Str(s) => s.clone(),
        Literal::Num(n) => n.to_string(),
        Literal::Bool(b) => b.to_string(),
    }
}

/// Translates a LIKE pattern (`%`, `_`) into a GLOB pattern, escaping
/// GLOB's own wildcards so they match literally.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            other => out.push(other),
        }
    }
    out
}

/// Escapes a substring for use inside a LIKE pattern with `\` as escape.
fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Builds the SQL of a list query.
pub fn build(
    dialect: Dialect,
    query: &RecordQuery,
    columns: &str,
    lifecycle: &str,
) -> Result<Built> {
    let mut c = Compiler {
        dialect,
        params: Vec::new(),
        lifecycle,
    };
    let mut conditions = vec!["r.is_effective = TRUE".to_string()];
    if !query.scopes.is_empty() {
        let scopes: Vec<String> = query
            .scopes
            .iter()
            .map(|(plugin, kind)| {
                let p = c.push(Param::Text(plugin.clone()));
                let k = c.push(Param::Text(kind.clone()));
                format!("(r.plugin = {p} AND r.kind = {k})")
            })
            .collect();
        conditions.push(format!("({})", scopes.join(" OR ")));
    }
    if let Some(filter) = &query.filter {
        conditions.push(c.cond(filter));
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        let p = c.push(Param::Text(format!("%{}%", like_escape(&q.to_lowercase()))));
        conditions.push(format!(
            "(lower(r.name) LIKE {p} ESCAPE '\\' OR lower(COALESCE(r.display_name, '')) LIKE {p} ESCAPE '\\' OR lower(COALESCE(r.description, '')) LIKE {p} ESCAPE '\\')"
        ));
    }
    let count_conditions = conditions.clone();
    let count_params = c.params.clone();
    let sort = c.sort_expr(&query.order);
    let cmp = if query.descending { "<" } else { ">" };
    if let Some(cursor) = &query.after {
        if cursor.tie.len() != 3 {
            return Err(Error::new(
                crate::domain::Reason::InvalidPageToken,
                "pageToken is not a token this server issued",
            ));
        }
        let v = c.cursor_value(&query.order, &cursor.sort_value);
        let p = c.push(Param::Text(cursor.tie[0].clone()));
        let k = c.push(Param::Text(cursor.tie[1].clone()));
        let n = c.push(Param::Text(cursor.tie[2].clone()));
        conditions.push(format!(
            "(({sort}, r.plugin, r.kind, r.name) {cmp} ({v}, {p}, {k}, {n}))"
        ));
    }
    let direction = if query.descending { "DESC" } else { "ASC" };
    let limit = c.push(Param::Int(i64::from(query.limit) + 1));
    let select = format!(
        "SELECT {columns} FROM catalog_records r {GOVERNANCE_JOIN} WHERE {} ORDER BY {sort} {direction}, r.plugin {direction}, r.kind {direction}, r.name {direction} LIMIT {limit}",
        conditions.join(" AND ")
    );
    let count = query.include_total.then(|| {
        format!(
            "SELECT COUNT(*) FROM catalog_records r {GOVERNANCE_JOIN} WHERE {}",
            count_conditions.join(" AND ")
        )
    });
    Ok(Built {
        select,
        params: c.params,
        count,
        count_params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_translate_to_glob() {
        assert_eq!(like_to_glob("a%b_c*?["), "a*b?c[*][?][[]");
    }

    #[test]
    fn values_are_never_spliced_into_sql() {
        let query = RecordQuery {
            scopes: vec![("agents".into(), "Agent".into())],
            filter: Some(Cond::Cmp {
                target: Target::Record(vec!["x'); DROP TABLE t; --".into()]),
                op: Op::Eq,
                values: vec![Literal::Str("'; DELETE FROM catalog_records; --".into())],
            }),
            q: Some("50%".into()),
            order: OrderKey::Name,
            descending: false,
            after: None,
            limit: 10,
            include_total: true,
        };
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let built = build(dialect, &query, "r.name", "g.lifecycle_state").unwrap();
            assert!(
                !built.select.contains("DROP") && !built.select.contains("DELETE"),
                "{}",
                built.select
            );
        }
    }
}
