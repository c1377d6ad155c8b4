//! `catalogctl PLUGIN list` and `catalogctl PLUGIN get NAME`, built from the
//! plugin's capabilities: one `--<filterField>` flag per declared filter
//! field (values checked against its options, operators and type), the
//! universal governance filters as `--lifecycle`, `--risk`,
//! `--compliance-tag`, `--owner`, `--team`, `--order-by` checked against the
//! sortable columns, and table columns taken from `fields.columns`.

use clap::{Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};

use super::{short_time, AssetArg, Block, Ctx, Outcome};
use crate::cli::caps;
use crate::cli::config::Format;
use crate::cli::errors::CliError;
use crate::cli::output::{self, at_path, cell, more_footer, Table};
use crate::cli::suggest;
use crate::proto::catalog::v1alpha1 as pb;

/// Flag names the list command owns; a filter field with one of these
/// names is reachable through `--filter NAME=VALUE` only.
const RESERVED: &[&str] = &[
    "kind",
    "filter",
    "lifecycle",
    "risk",
    "compliance-tag",
    "owner",
    "team",
    "q",
    "source-id",
    "label",
    "order-by",
    "sort",
    "help",
    "server",
    "addr",
    "plaintext",
    "token",
    "token-file",
    "context",
    "config",
    "output",
    "correlation-id",
    "dry-run",
    "reason",
    "page-size",
    "page-token",
    "all",
    "include-archived",
];

/// The universal filters and the convenience flag each one backs.
const UNIVERSAL: &[(&str, &str)] = &[
    ("lifecycleState", "lifecycle"),
    ("riskLevel", "risk"),
    ("complianceTag", "compliance-tag"),
    ("owner", "owner"),
    ("team", "team"),
];

/// `agentType` → `agent-type`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '_' || c == '.' {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

/// The filter fields of the chosen kind, or of every kind (first wins).
fn filter_fields<'a>(
    caps: &'a pb::PluginCapabilities,
    entity: Option<&'a pb::EntityCapabilities>,
) -> Vec<&'a pb::FilterField> {
    let mut out: Vec<&pb::FilterField> = Vec::new();
    let entities: Vec<&pb::EntityCapabilities> = match entity {
        Some(e) => vec![e],
        None => caps.entities.iter().collect(),
    };
    for e in entities {
        for f in e.fields.iter().flat_map(|f| f.filter_fields.iter()) {
            if !out.iter().any(|o| o.name == f.name) {
                out.push(f);
            }
        }
    }
    out
}

/// Whether a filter field gets its own flag.
fn has_flag(field: &pb::FilterField) -> bool {
    !field.universal
        && !RESERVED.contains(&field.name.as_str())
        && !RESERVED.contains(&kebab(&field.name).as_str())
}

/// The `list` command of a plugin.
pub fn list_command(caps: &pb::PluginCapabilities) -> Command {
    let kinds: Vec<String> = caps.entities.iter().map(|e| e.kind.clone()).collect();
    let mut cmd = Command::new("list")
        .about("List assets; columns and filters come from the plugin's capabilities")
        .arg(
            Arg::new("kind")
                .long("kind")
                .value_name("KIND")
                .help(format!("Kind, plural or alias ({})", kinds.join(", "))),
        )
        .arg(
            Arg::new("filter")
                .long("filter")
                .action(ArgAction::Append)
                .value_name("Q|FIELD=VALUE")
                .help("A filterQuery expression, or FIELD=VALUE for a declared filter field"),
        )
        .arg(
            Arg::new("lifecycle")
                .long("lifecycle")
                .action(ArgAction::Append)
                .value_name("STATE")
                .help("Lifecycle state to keep (repeatable)"),
        )
        .arg(
            Arg::new("risk")
                .long("risk")
                .action(ArgAction::Append)
                .value_name("LEVEL")
                .help("Risk level to keep (repeatable)"),
        )
        .arg(
            Arg::new("compliance-tag")
                .long("compliance-tag")
                .action(ArgAction::Append)
                .value_name("TAG")
                .help("Compliance tag that must be present (repeatable)"),
        )
        .arg(
            Arg::new("owner")
                .long("owner")
                .value_name("PRINCIPAL")
                .help("Governance owner"),
        )
        .arg(
            Arg::new("team")
                .long("team")
                .value_name("TEAM")
                .help("Governance team"),
        )
        .arg(
            Arg::new("q")
                .long("q")
                .value_name("TEXT")
                .help("Substring of name, display name or description"),
        )
        .arg(
            Arg::new("source-id")
                .long("source-id")
                .value_name("ID")
                .help("Only this source"),
        )
        .arg(
            Arg::new("label")
                .long("label")
                .action(ArgAction::Append)
                .value_name("K=V")
                .help("Label that must match (repeatable)"),
        )
        .arg(
            Arg::new("order-by")
                .long("order-by")
                .value_name("COLUMN")
                .help("Sort by a sortable column, name, createdAt or updatedAt"),
        )
        .arg(
            Arg::new("sort")
                .long("sort")
                .value_name("ORDER")
                .value_parser(["ASC", "DESC", "asc", "desc"])
                .help("ASC or DESC"),
        );
    for field in filter_fields(caps, None) {
        if !has_flag(field) {
            continue;
        }
        let mut help = field.display_name.clone();
        if !field.options.is_empty() {
            help.push_str(&format!(" ({})", field.options.join(", ")));
        }
        let mut arg = Arg::new(format!("field:{}", field.name))
            .long(field.name.clone())
            .action(ArgAction::Append)
            .value_name(field.r#type.to_uppercase())
            .help(help);
        let alias = kebab(&field.name);
        if alias != field.name {
            arg = arg.visible_alias(alias);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// One filterQuery clause for a declared field.
fn clause(field: &pb::FilterField, values: &[String]) -> Result<String, CliError> {
    let flag = format!("--{}", field.name);
    for value in values {
        if !field.options.is_empty() && !field.options.iter().any(|o| o == value) {
            return Err(
                CliError::usage(format!("{value:?} is not a value of {flag}")).with_hint(
                    suggest::hint(value, field.options.iter().map(String::as_str)),
                ),
            );
        }
    }
    let literal = |value: &str| -> Result<String, CliError> {
        match field.r#type.as_str() {
            "boolean" => match value {
                "true" | "false" => Ok(value.to_string()),
                _ => Err(CliError::usage(format!("{flag} takes true or false"))),
            },
            "number" => value
                .parse::<f64>()
                .map(|_| value.to_string())
                .map_err(|_| CliError::usage(format!("{flag} takes a number"))),
            _ => Ok(quote(value)),
        }
    };
    let allows = |op: &str| field.operators.is_empty() || field.operators.iter().any(|o| o == op);
    match values {
        [one] if allows("=") => Ok(format!("{} = {}", field.path, literal(one)?)),
        [one] => Err(CliError::usage(format!(
            "{flag} {one:?}: the field takes the operators {}; use --filter",
            field.operators.join(" ")
        ))),
        many if allows("IN") => {
            let items = many
                .iter()
                .map(|v| literal(v))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("{} IN ({})", field.path, items.join(", ")))
        }
        _ => Err(CliError::usage(format!("{flag} takes one value"))),
    }
}

/// `FIELD=VALUE` when `text` is that simple form (no spaces, no quotes, no
/// other operator), else None (a filterQuery expression).
fn simple_pair(text: &str) -> Option<(&str, &str)> {
    let (key, value) = text.split_once('=')?;
    let key_ok = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
    let value_ok = !value.is_empty()
        && !value.starts_with(['\'', '"', '='])
        && !value.contains(char::is_whitespace);
    (key_ok && value_ok).then_some((key, value))
}

/// Checks convenience-flag values against the options of the universal
/// filter behind them, when the capabilities declare options.
fn check_options(
    fields: &[&pb::FilterField],
    universal: &str,
    flag: &str,
    values: &[String],
) -> Result<(), CliError> {
    let Some(field) = fields.iter().find(|f| f.name == universal) else {
        return Ok(());
    };
    for value in values {
        if !field.options.is_empty() && !field.options.iter().any(|o| o == value) {
            return Err(
                CliError::usage(format!("{value:?} is not a value of --{flag}")).with_hint(
                    suggest::hint(value, field.options.iter().map(String::as_str)),
                ),
            );
        }
    }
    Ok(())
}

/// The ListAssetsRequest the list flags describe.
fn request(
    caps: &pb::PluginCapabilities,
    entity: Option<&pb::EntityCapabilities>,
    matches: &ArgMatches,
    ctx: &Ctx,
) -> Result<pb::ListAssetsRequest, CliError> {
    let many = |id: &str| -> Vec<String> {
        matches
            .get_many::<String>(id)
            .map(|v| v.cloned().collect())
            .unwrap_or_default()
    };
    let one = |id: &str| matches.get_one::<String>(id).cloned();
    let fields = filter_fields(caps, entity);
    let mut clauses = Vec::new();
    for text in many("filter") {
        match simple_pair(&text) {
            Some((key, value)) => {
                let field = fields
                    .iter()
                    .find(|f| f.name == key || f.path == key)
                    .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)));
                match field {
                    Some(field) => clauses.push(clause(field, &[value.to_string()])?),
                    None => {
                        return Err(CliError::usage(format!("unknown filter field {key:?}"))
                            .with_hint(suggest::hint(key, fields.iter().map(|f| f.name.as_str()))))
                    }
                }
            }
            None => clauses.push(format!("({text})")),
        }
    }
    for field in filter_fields(caps, None) {
        if !has_flag(field) {
            continue;
        }
        let values = many(&format!("field:{}", field.name));
        if values.is_empty() {
            continue;
        }
        if !fields.iter().any(|f| f.name == field.name) {
            let kind = entity.map(|e| e.kind.as_str()).unwrap_or("");
            return Err(CliError::usage(format!(
                "--{} is not a filter of {kind}",
                field.name
            )));
        }
        clauses.push(clause(field, &values)?);
    }
    for (universal, flag) in UNIVERSAL {
        check_options(&fields, universal, flag, &many(flag))?;
    }
    if let Some(order) = one("order-by") {
        let mut sortable: Vec<&str> = vec!["name", "createdAt", "updatedAt"];
        let entities: Vec<&pb::EntityCapabilities> = match entity {
            Some(e) => vec![e],
            None => caps.entities.iter().collect(),
        };
        for e in entities {
            for c in e.fields.iter().flat_map(|f| f.columns.iter()) {
                if c.sortable && !sortable.contains(&c.name.as_str()) {
                    sortable.push(&c.name);
                }
            }
        }
        if !sortable.contains(&order.as_str()) {
            return Err(CliError::usage(format!("cannot sort by {order:?}"))
                .with_hint(suggest::hint(&order, sortable)));
        }
    }
    Ok(pb::ListAssetsRequest {
        plugin: caps
            .plugin
            .as_ref()
            .map(|p| p.name.clone())
            .unwrap_or_default(),
        kind: entity.map(|e| e.kind.clone()).unwrap_or_default(),
        filter_query: clauses.join(" AND "),
        lifecycle_state: many("lifecycle"),
        include_archived: ctx.global.include_archived,
        risk_level: many("risk"),
        compliance_tag: many("compliance-tag"),
        owner: one("owner").unwrap_or_default(),
        team: one("team").unwrap_or_default(),
        source_id: one("source-id").unwrap_or_default(),
        label: many("label"),
        q: one("q").unwrap_or_default(),
        page_size: ctx.global.page_size.unwrap_or(0),
        page_token: ctx.global.page_token.clone().unwrap_or_default(),
        order_by: one("order-by").unwrap_or_default(),
        sort_order: one("sort").map(|s| s.to_uppercase()).unwrap_or_default(),
        include_total: false,
    })
}

/// The value of a column path: the native record first, then the envelope
/// (universal paths such as `governance.lifecycle.state`).
fn column_value(asset: &Value, path: &str) -> Option<Value> {
    asset
        .get("spec")
        .and_then(|spec| at_path(spec, path))
        .or_else(|| at_path(asset, path))
}

/// `catalogctl PLUGIN list …`.
pub async fn list(ctx: &Ctx, caps: &pb::PluginCapabilities, matches: &ArgMatches) -> Outcome {
    let kind = matches.get_one::<String>("kind").map(String::as_str);
    let entity = match (kind, caps.entities.len()) {
        (None, n) if n != 1 => None,
        _ => Some(caps::entity(caps, kind)?),
    };
    let mut req = request(caps, entity, matches, ctx)?;
    let mut all = pb::ListAssetsResponse::default();
    loop {
        let page = ctx
            .clients
            .assets()
            .list_assets(req.clone())
            .await?
            .into_inner();
        all.api_version = page.api_version;
        all.kind = page.kind;
        all.items.extend(page.items);
        all.next_page_token = page.next_page_token.clone();
        if !ctx.global.all || page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    all.size = all.items.len() as i32;
    let json = output::to_json("catalog.v1alpha1.ListAssetsResponse", &all);
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json)?;
        return Ok(0);
    }
    let items: Vec<&Value> = json
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut out = match entity {
        Some(entity) => {
            let columns: Vec<&pb::Column> = entity
                .fields
                .iter()
                .flat_map(|f| f.columns.iter())
                .collect();
            let mut table = Table::new(columns.iter().map(|c| {
                if c.display_name.is_empty() {
                    c.name.clone()
                } else {
                    c.display_name.clone()
                }
            }));
            for item in &items {
                table.row(
                    columns
                        .iter()
                        .map(|c| {
                            let value = column_value(item, &c.path);
                            if c.r#type == "date" {
                                short_time(value.as_ref())
                            } else {
                                cell(value.as_ref())
                            }
                        })
                        .collect(),
                );
            }
            table.render()
        }
        None => {
            let mut table = Table::new(["KIND", "NAME", "LIFECYCLE"]);
            for item in &items {
                table.row(vec![
                    cell(item.get("kind")),
                    cell(at_path(item, "metadata.name").as_ref()),
                    cell(at_path(item, "governance.lifecycle.state").as_ref()),
                ]);
            }
            table.render()
        }
    };
    out.push_str(&more_footer(items.len(), &all.next_page_token));
    output::write_stdout(&out)?;
    Ok(0)
}

/// `catalogctl PLUGIN get NAME`: the asset with lifecycle, governance,
/// provenance and bindings.
pub async fn get(ctx: &Ctx, target: &AssetArg, scope: &str) -> Outcome {
    let asset = target.resolve(ctx, Some(scope)).await?;
    let resource = ctx
        .clients
        .assets()
        .get_asset(pb::GetAssetRequest {
            plugin: asset.plugin.clone(),
            kind: asset.kind.clone(),
            name: asset.name.clone(),
        })
        .await?
        .into_inner();
    let bindings = if asset.governance().is_some() {
        super::versions::list_bindings(ctx, &asset).await?.bindings
    } else {
        Vec::new()
    };
    let json = output::to_json("catalog.v1alpha1.AssetResource", &resource);
    let bindings: Vec<Value> = bindings
        .iter()
        .map(|b| output::to_json("catalog.governance.v1alpha1.Binding", b))
        .collect();
    if ctx.format != Format::Table {
        output::print_document(ctx.format, &json!({"asset": json, "bindings": bindings}))?;
        return Ok(0);
    }
    let entity = asset.entity();
    let empty = json!({});
    let spec = json.get("spec").unwrap_or(&empty);
    let mut head = Block::default();
    head.kv(
        "Display name",
        cell(at_path(&json, "metadata.displayName").as_ref()),
    );
    head.kv(
        "Description",
        cell(at_path(&json, "metadata.description").as_ref()),
    );
    head.kv("Uid", cell(at_path(&json, "metadata.uid").as_ref()));
    if let Some(Value::Object(labels)) = at_path(&json, "metadata.labels") {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(Some(v))))
            .collect();
        head.kv("Labels", labels.join(", "));
    }
    head.kv("Tags", cell(at_path(&json, "metadata.tags").as_ref()));
    head.kv(
        "Created",
        short_time(at_path(&json, "metadata.createdAt").as_ref()),
    );
    head.kv(
        "Updated",
        short_time(at_path(&json, "metadata.updatedAt").as_ref()),
    );
    let mut out = head.render(&format!("{} {}", entity.kind, asset.reference()));
    // Plugin sections, in the order the capabilities give.
    let details: Vec<&pb::DetailField> = entity
        .fields
        .iter()
        .flat_map(|f| f.detail_fields.iter())
        .collect();
    let mut sections: Vec<String> = entity
        .ui_hints
        .iter()
        .flat_map(|h| h.detail_sections.iter().cloned())
        .collect();
    for d in &details {
        if !sections.contains(&d.section) {
            sections.push(d.section.clone());
        }
    }
    for section in &sections {
        let mut block = Block::default();
        for d in details.iter().filter(|d| &d.section == section) {
            let label = if d.display_name.is_empty() {
                &d.name
            } else {
                &d.display_name
            };
            block.kv(
                label,
                output::truncate(&cell(at_path(spec, &d.path).as_ref()), 100),
            );
        }
        if !block.is_empty() {
            out.push_str(&block.render(&section.to_uppercase()));
        }
    }
    if asset.governance().is_some() {
        let governance = json.get("governance").unwrap_or(&empty);
        out.push_str(&super::governance::lifecycle_block(
            governance.get("lifecycle"),
        ));
        out.push_str(&super::governance::governance_block(governance));
    }
    out.push_str(&provenance_block(json.get("provenance")));
    if asset.governance().is_some() {
        out.push_str(&super::versions::bindings_table(Some(&Value::Array(
            bindings,
        ))));
    }
    output::write_stdout(&out)?;
    Ok(0)
}

/// The PROVENANCE block: source, revision, digest, signature status.
fn provenance_block(provenance: Option<&Value>) -> String {
    let Some(p) = provenance else {
        return String::new();
    };
    let get = |path: &str| cell(at_path(p, path).as_ref());
    let mut block = Block::default();
    block.kv(
        "Source",
        format!("{} {}", get("source.type"), get("source.sourceId")),
    );
    block.kv("URI", get("source.uri"));
    block.kv("Revision", get("revision.id"));
    block.kv("Ref", get("revision.ref"));
    block.kv(
        "Observed at",
        short_time(at_path(p, "revision.observedAt").as_ref()),
    );
    block.kv("Content digest", get("integrity.contentDigest"));
    let verified = at_path(p, "integrity.signature.verified") == Some(json!(true));
    let method = get("integrity.signature.method");
    let details = get("integrity.signature.details");
    let signature = if verified {
        format!(
            "verified ({method}) {}",
            get("integrity.signature.signerIdentity")
        )
    } else if method.is_empty() || method == "none" {
        if details.is_empty() {
            "not configured".to_string()
        } else {
            details
        }
    } else {
        format!("unverified ({method}) {details}")
    };
    block.kv("Signature", signature);
    block.render("PROVENANCE")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: &str, options: &[&str], operators: &[&str]) -> pb::FilterField {
        pb::FilterField {
            name: name.into(),
            path: name.into(),
            r#type: ty.into(),
            options: options.iter().map(|s| s.to_string()).collect(),
            operators: operators.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn clauses_follow_the_field_declaration() {
        let select = field("agentType", "select", &["router", "planner"], &["=", "IN"]);
        assert_eq!(
            clause(&select, &["router".into()]).unwrap(),
            "agentType = 'router'"
        );
        assert_eq!(
            clause(&select, &["router".into(), "planner".into()]).unwrap(),
            "agentType IN ('router', 'planner')"
        );
        let e = clause(&select, &["roter".into()]).unwrap_err();
        assert!(
            e.render().contains("did you mean \"router\"?"),
            "{}",
            e.render()
        );
        let text = field("author", "text", &[], &["="]);
        assert_eq!(
            clause(&text, &["O'Brien".into()]).unwrap(),
            "author = 'O''Brien'"
        );
        assert!(clause(&text, &["a".into(), "b".into()]).is_err());
        let number = field("stars", "number", &[], &[]);
        assert_eq!(clause(&number, &["4".into()]).unwrap(), "stars = 4");
        assert!(clause(&number, &["four".into()]).is_err());
    }

    #[test]
    fn simple_pairs_are_told_from_expressions() {
        assert_eq!(
            simple_pair("agentType=router"),
            Some(("agentType", "router"))
        );
        assert_eq!(simple_pair("agentType='router'"), None);
        assert_eq!(simple_pair("agentType = 'router'"), None);
        assert_eq!(simple_pair("a!=b"), None);
        assert_eq!(kebab("agentType"), "agent-type");
    }
}
