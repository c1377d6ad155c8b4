//! The route table: every `google.api.http` rule of the descriptor pool
//! (with its additional bindings) compiled once, at start-up, into a path
//! template and the request fields its variables fill.
//!
//! Template grammar (google/api/http.proto):
//!
//! ```text
//! Template = "/" Segments [ Verb ] ;
//! Segments = Segment { "/" Segment } ;
//! Segment  = "*" | "**" | LITERAL | Variable ;
//! Variable = "{" FieldPath [ "=" Segments ] "}" ;
//! FieldPath = IDENT { "." IDENT } ;
//! Verb     = ":" LITERAL ;
//! ```
//!
//! Matching works on the raw (still percent-encoded) path split at `/`,
//! so an encoded `%2F` never splits a segment; captured values are decoded
//! after matching (multi-segment captures keep `%2F` as it is, as
//! http.proto prescribes).

use http::Method;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MethodDescriptor};

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Exactly this text.
    Literal(String),
    /// `*`: any one segment.
    Single,
    /// `**`: any number of segments (zero or more).
    Multi,
}

/// A compiled path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The segments, variables flattened in place.
    segments: Vec<Segment>,
    /// For each segment, the variable that captures it, if any.
    owners: Vec<Option<usize>>,
    /// Field path (dotted names as written) of each variable.
    variables: Vec<Vec<String>>,
    /// The custom verb after the last `:`, if any.
    verb: Option<String>,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path template {template:?}: {problem}")]
pub struct TemplateError {
    template: String,
    problem: String,
}

impl Template {
    /// Parses a template such as `/v1/{name=shelves/*/books/**}:publish`.
    pub fn parse(template: &str) -> Result<Template, TemplateError> {
        let fail = |problem: &str| TemplateError {
            template: template.to_string(),
            problem: problem.to_string(),
        };
        let mut parser = Parser {
            chars: template.as_bytes(),
            pos: 0,
            out: Template {
                segments: vec![],
                owners: vec![],
                variables: vec![],
                verb: None,
            },
        };
        if !parser.eat(b'/') {
            return Err(fail("must start with '/'"));
        }
        parser.segments(None).map_err(|p| fail(&p))?;
        if parser.eat(b':') {
            let verb = parser.literal();
            if verb.is_empty() {
                return Err(fail("empty custom verb"));
            }
            parser.out.verb = Some(verb);
        }
        if parser.pos != parser.chars.len() {
            return Err(fail(&format!("unexpected text at byte {}", parser.pos)));
        }
        Ok(parser.out)
    }

    /// The custom verb, if any.
    pub fn verb(&self) -> Option<&str> {
        self.verb.as_deref()
    }

    /// Field paths of the variables, in order.
    pub fn variables(&self) -> &[Vec<String>] {
        &self.variables
    }

    /// Literal segments, custom verb and fewer `**`: how specific a
    /// template is, so `/a/b` wins over `/a/{x}` when both match.
    fn specificity(&self) -> (usize, bool, std::cmp::Reverse<usize>) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let multi = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Multi))
            .count();
        (literals, self.verb.is_some(), std::cmp::Reverse(multi))
    }

    /// Matches a raw request path (no query). On success, the decoded
    /// value of every variable, in variable order.
    pub fn matches(&self, path: &str) -> Option<Vec<String>> {
        let rest = path.strip_prefix('/')?;
        let rest = match &self.verb {
            Some(verb) => rest
                .strip_suffix(verb.as_str())
                .and_then(|r| r.strip_suffix(':'))?,
            None => rest,
        };
        let components: Vec<&str> = rest.split('/').collect();
        let mut taken: Vec<(usize, usize)> = Vec::new();
        if !self.walk(0, &components, 0, &mut taken) {
            return None;
        }
        let mut values = Vec::with_capacity(self.variables.len());
        for var in 0..self.variables.len() {
            let parts: Vec<&str> = taken
                .iter()
                .filter(|(v, _)| *v == var)
                .map(|(_, c)| components[*c])
                .collect();
            let multi = self
                .segments
                .iter()
                .zip(&self.owners)
                .any(|(s, o)| *o == Some(var) && matches!(s, Segment::Multi))
                || parts.len() > 1;
            values.push(decode(&parts.join("/"), multi)?);
        }
        Some(values)
    }

    /// Backtracking match of `segments[at..]` against `components[from..]`,
    /// recording (variable, component index) for captured components.
    fn walk(
        &self,
        at: usize,
        components: &[&str],
        from: usize,
        taken: &mut Vec<(usize, usize)>,
    ) -> bool {
        let Some(segment) = self.segments.get(at) else {
            return from == components.len();
        };
        let owner = self.owners[at];
        let mark = taken.len();
        match segment {
            Segment::Literal(text) => {
                if components.get(from) != Some(&text.as_str()) {
                    return false;
                }
                if let Some(var) = owner {
                    taken.push((var, from));
                }
                if self.walk(at + 1, components, from + 1, taken) {
                    return true;
                }
                taken.truncate(mark);
                false
            }
            Segment::Single => {
                if from >= components.len() {
                    return false;
                }
                if let Some(var) = owner {
                    taken.push((var, from));
                }
                if self.walk(at + 1, components, from + 1, taken) {
                    return true;
                }
                taken.truncate(mark);
                false
            }
            Segment::Multi => {
                // Longest first: `**` is greedy.
                for end in (from..=components.len()).rev() {
                    if let Some(var) = owner {
                        taken.extend((from..end).map(|c| (var, c)));
                    }
                    if self.walk(at + 1, components, end, taken) {
                        return true;
                    }
                    taken.truncate(mark);
                }
                false
            }
        }
    }
}

/// Percent-decodes a captured value; multi-segment values keep `%2F`.
fn decode(raw: &str, keep_encoded_slash: bool) -> Option<String> {
    let decode_part = |part: &str| {
        percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    if !keep_encoded_slash {
        return decode_part(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    loop {
        let next = rest.find("%2F").into_iter().chain(rest.find("%2f")).min();
        match next {
            Some(i) => {
                out.push_str(&decode_part(&rest[..i])?);
                out.push_str(&rest[i..i + 3]);
                rest = &rest[i + 3..];
            }
            None => {
                out.push_str(&decode_part(rest)?);
                return Some(out);
            }
        }
    }
}

struct Parser<'a> {
    chars: &'a [u8],
    pos: usize,
    out: Template,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.chars.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, b'/' | b'{' | b'}' | b':' | b'=' | b'*') {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.chars[start..self.pos]).into_owned()
    }

    fn segments(&mut self, owner: Option<usize>) -> Result<(), String> {
        loop {
            self.segment(owner)?;
            if !self.eat(b'/') {
                return Ok(());
            }
        }
    }

    fn push(&mut self, segment: Segment, owner: Option<usize>) {
        self.out.segments.push(segment);
        self.out.owners.push(owner);
    }

    fn segment(&mut self, owner: Option<usize>) -> Result<(), String> {
        if self.eat(b'*') {
            let segment = if self.eat(b'*') {
                Segment::Multi
            } else {
                Segment::Single
            };
            self.push(segment, owner);
            return Ok(());
        }
        if self.eat(b'{') {
            if owner.is_some() {
                return Err("variables cannot nest".into());
            }
            let var = self.out.variables.len();
            let ident = self.literal();
            let path: Vec<String> = ident.split('.').map(str::to_string).collect();
            let valid = path.iter().all(|part| {
                !part.is_empty() && part.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
            });
            if !valid {
                return Err(format!("bad field path {ident:?} in a variable"));
            }
            self.out.variables.push(path);
            if self.eat(b'=') {
                self.segments(Some(var))?;
            } else {
                self.push(Segment::Single, Some(var));
            }
            if !self.eat(b'}') {
                return Err("missing '}'".into());
            }
            return Ok(());
        }
        let literal = self.literal();
        if literal.is_empty() {
            return Err(format!("empty segment at byte {}", self.pos));
        }
        self.push(Segment::Literal(literal), owner);
        Ok(())
    }
}

/// Where the request body goes.
#[derive(Debug, Clone)]
pub enum BodyMapping {
    /// No body: every field not in the path comes from the query.
    None,
    /// `body: "*"`: the whole request message (no query parameters).
    Whole,
    /// `body: "field"`: that top-level field.
    Field(FieldDescriptor),
}

/// One HTTP binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template as written in the proto.
    pub pattern: String,
    /// Compiled template.
    pub template: Template,
    /// The RPC.
    pub rpc: MethodDescriptor,
    /// `/package.Service/Method`.
    pub grpc_path: String,
    /// Request fields of each template variable.
    pub path_fields: Vec<Vec<FieldDescriptor>>,
    /// Where the body goes.
    pub body: BodyMapping,
    /// `response_body`: the response field to answer with, if not all.
    pub response_body: Option<FieldDescriptor>,
}

/// One binding read from an HttpRule, before it is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// HTTP method.
    pub method: String,
    /// Path template.
    pub path: String,
    /// `body` ("" for none).
    pub body: String,
    /// `response_body` ("" for the whole message).
    pub response_body: String,
}

/// The bindings of an HttpRule: its own, then its additional bindings.
pub fn bindings(rule: &DynamicMessage) -> Vec<Binding> {
    let text = |m: &DynamicMessage, name: &str| {
        m.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let one = |m: &DynamicMessage| -> Option<Binding> {
        let (method, path) = ["get", "put", "post", "delete", "patch"]
            .iter()
            .find(|name| m.has_field_by_name(name))
            .map(|name| (name.to_ascii_uppercase(), text(m, name)))
            .or_else(|| {
                let custom = m.get_field_by_name("custom")?;
                let custom = custom.as_message()?;
                Some((text(custom, "kind"), text(custom, "path")))
            })?;
        if path.is_empty() {
            return None;
        }
        Some(Binding {
            method,
            path,
            body: text(m, "body"),
            response_body: text(m, "response_body"),
        })
    };
    let mut out: Vec<Binding> = one(rule).into_iter().collect();
    if let Some(extra) = rule.get_field_by_name("additional_bindings") {
        for binding in extra.as_list().unwrap_or_default() {
            if let Some(b) = binding.as_message().and_then(one) {
                out.push(b);
            }
        }
    }
    out
}

/// What the table says about a request.
pub enum Lookup<'a> {
    /// This route, with the decoded value of each path variable.
    Found(&'a Route, Vec<String>),
    /// The path belongs to a route of another method.
    WrongMethod,
    /// No route has this path.
    NotFound,
}

/// Every route, most specific first.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

/// Resolves a dotted field path (proto or JSON names) in a message.
pub fn resolve(
    message: &prost_reflect::MessageDescriptor,
    path: &[String],
) -> Option<Vec<FieldDescriptor>> {
    let mut out = Vec::with_capacity(path.len());
    let mut current = message.clone();
    for (i, name) in path.iter().enumerate() {
        let field = current
            .get_field_by_name(name)
            .or_else(|| current.get_field_by_json_name(name))?;
        if i + 1 < path.len() {
            match field.kind() {
                Kind::Message(m) if !field.is_list() && !field.is_map() => current = m,
                _ => return None,
            }
        }
        out.push(field);
    }
    Some(out)
}

impl RouteTable {
    /// Builds the table from every service of the pool that has
    /// `google.api.http` options; an unusable rule is an error.
    pub fn from_pool(pool: &DescriptorPool) -> Result<RouteTable, String> {
        let Some(extension) = pool.get_extension_by_name("google.api.http") else {
            return Ok(RouteTable::default());
        };
        let mut routes = Vec::new();
        for service in pool.services() {
            for rpc in service.methods() {
                let options = rpc.options();
                if !options.has_extension(&extension) {
                    continue;
                }
                let rule = options.get_extension(&extension);
                let Some(rule) = rule.as_message() else {
                    continue;
                };
                if rpc.is_client_streaming() {
                    tracing::warn!(
                        rpc = rpc.full_name(),
                        "client-streaming RPCs are not served over HTTP/JSON"
                    );
                    continue;
                }
                for binding in bindings(rule) {
                    routes.push(Route::compile(&rpc, &binding)?);
                }
            }
        }
        // Stable: among equally specific templates the proto order wins.
        routes.sort_by_key(|r| std::cmp::Reverse(r.template.specificity()));
        Ok(RouteTable { routes })
    }

    /// Every route.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route for a method and raw path.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let mut other_method = false;
        for route in &self.routes {
            if route.method != *method && other_method {
                continue;
            }
            if let Some(values) = route.template.matches(path) {
                if route.method == *method {
                    return Lookup::Found(route, values);
                }
                other_method = true;
            }
        }
        if other_method {
            Lookup::WrongMethod
        } else {
            Lookup::NotFound
        }
    }
}

impl Route {
    fn compile(rpc: &MethodDescriptor, binding: &Binding) -> Result<Route, String> {
        let where_ = || format!("{} ({} {})", rpc.full_name(), binding.method, binding.path);
        let method = Method::from_bytes(binding.method.as_bytes())
            .map_err(|e| format!("{}: bad method: {e}", where_()))?;
        let template = Template::parse(&binding.path).map_err(|e| format!("{}: {e}", where_()))?;
        let input = rpc.input();
        let mut path_fields = Vec::new();
        for variable in template.variables() {
            let fields = resolve(&input, variable)
                .filter(|f| f.last().is_some_and(|l| !l.is_list() && !l.is_map()))
                .ok_or_else(|| {
                    format!(
                        "{}: {} is not a singular field of {}",
                        where_(),
                        variable.join("."),
                        input.full_name()
                    )
                })?;
            path_fields.push(fields);
        }
        let body = match binding.body.as_str() {
            "" => BodyMapping::None,
            "*" => BodyMapping::Whole,
            name => BodyMapping::Field(input.get_field_by_name(name).ok_or_else(|| {
                format!(
                    "{}: body field {name} is not in {}",
                    where_(),
                    input.full_name()
                )
            })?),
        };
        let response_body = match binding.response_body.as_str() {
            "" => None,
            name => Some(rpc.output().get_field_by_name(name).ok_or_else(|| {
                format!(
                    "{}: response_body field {name} is not in {}",
                    where_(),
                    rpc.output().full_name()
                )
            })?),
        };
        Ok(Route {
            method,
            pattern: binding.path.clone(),
            template,
            grpc_path: format!("/{}/{}", rpc.parent_service().full_name(), rpc.name()),
            rpc: rpc.clone(),
            path_fields,
            body,
            response_body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Template {
        Template::parse(s).unwrap()
    }

    #[test]
    fn literal_and_simple_variables() {
        let template = t("/api/plugins/{plugin}/capabilities");
        assert_eq!(template.variables(), &[vec!["plugin".to_string()]]);
        assert_eq!(
            template.matches("/api/plugins/models/capabilities"),
            Some(vec!["models".to_string()])
        );
        assert_eq!(template.matches("/api/plugins/models"), None);
        assert_eq!(template.matches("/api/plugins/a/b/capabilities"), None);
        assert_eq!(template.matches("api/plugins/a/capabilities"), None);
    }

    #[test]
    fn values_are_decoded_after_matching() {
        let template = t("/v1/{name}");
        assert_eq!(
            template.matches("/v1/a%2Fb%20c"),
            Some(vec!["a/b c".to_string()])
        );
        assert_eq!(template.matches("/v1/a/b"), None);
        assert_eq!(template.matches("/v1/%FF"), None, "not UTF-8");
    }

    #[test]
    fn nested_field_paths() {
        let template = t("/v1/{book.shelf.id}/x/{book.name=*}");
        assert_eq!(
            template.variables(),
            &[
                vec!["book".to_string(), "shelf".into(), "id".into()],
                vec!["book".to_string(), "name".into()]
            ]
        );
        assert_eq!(
            template.matches("/v1/7/x/moby"),
            Some(vec!["7".to_string(), "moby".into()])
        );
    }

    #[test]
    fn multi_segment_variables_keep_encoded_slashes() {
        let template = t("/api/model_catalog/v1alpha1/sources/{source_id}/models/{model_name=**}");
        assert_eq!(
            template.matches("/api/model_catalog/v1alpha1/sources/s1/models/org/model%2Fv2/x%20y"),
            Some(vec!["s1".to_string(), "org/model%2Fv2/x y".into()])
        );
        assert_eq!(
            template.matches("/api/model_catalog/v1alpha1/sources/s1/models"),
            Some(vec!["s1".to_string(), String::new()]),
            "** matches zero segments"
        );
        let shaped = t("/v1/{name=shelves/*/books/*}");
        assert_eq!(
            shaped.matches("/v1/shelves/1/books/2"),
            Some(vec!["shelves/1/books/2".to_string()])
        );
        assert_eq!(shaped.matches("/v1/shelves/1/cds/2"), None);
    }

    #[test]
    fn deep_wildcards_backtrack() {
        let template = t("/v1/{path=**}/end/{leaf}");
        assert_eq!(
            template.matches("/v1/a/b/end/c"),
            Some(vec!["a/b".to_string(), "c".into()])
        );
        assert_eq!(
            template.matches("/v1/end/end/c"),
            Some(vec!["end".to_string(), "c".into()])
        );
        let anonymous = t("/v1/*/x/**");
        assert_eq!(anonymous.matches("/v1/a/x/b/c"), Some(vec![]));
    }

    #[test]
    fn custom_verbs() {
        let template = t("/api/catalog/v1alpha1/{plugin}/sources/{source_id}:action");
        assert_eq!(template.verb(), Some("action"));
        assert_eq!(
            template.matches("/api/catalog/v1alpha1/models/sources/s1:action"),
            Some(vec!["models".to_string(), "s1".into()])
        );
        assert_eq!(
            template.matches("/api/catalog/v1alpha1/models/sources/s1"),
            None
        );
        let verify = t("/api/governance/v1alpha1/audit:verify");
        assert_eq!(
            verify.matches("/api/governance/v1alpha1/audit:verify"),
            Some(vec![])
        );
        assert_eq!(verify.matches("/api/governance/v1alpha1/audit"), None);
        let deep = t("/v1/{name=**}:publish");
        assert_eq!(
            deep.matches("/v1/a/b:publish"),
            Some(vec!["a/b".to_string()])
        );
        // Without a verb in the template, a colon is just part of a name.
        let plain = t("/v1/{name}");
        assert_eq!(plain.matches("/v1/a:b"), Some(vec!["a:b".to_string()]));
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "",
            "v1/x",
            "/v1/{name",
            "/v1/{}",
            "/v1/{a={b}}",
            "/v1//x",
            "/v1/x:",
            "/v1/{na-me}",
            "/v1/x}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    /// A small deterministic generator (no extra dependency).
    fn noise(seed: &mut u64, alphabet: &[u8], max: usize) -> String {
        let mut next = || {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed
        };
        let len = (next() as usize) % max;
        (0..len)
            .map(|_| alphabet[(next() as usize) % alphabet.len()] as char)
            .collect()
    }

    #[test]
    fn random_templates_and_paths_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"/{}=*.:ab_%2F";
        let known = [
            t("/v1/{a}/x/{b=**}:v"),
            t("/v1/{a.b=c/*}/{d}"),
            t("/{x=**}/y/**"),
        ];
        for _ in 0..20_000 {
            let text = noise(&mut seed, alphabet, 24);
            if let Ok(template) = Template::parse(&text) {
                let _ = template.matches(&text);
            }
            for template in &known {
                let _ = template.matches(&text);
            }
        }
    }

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn additional_bindings_are_read() {
        let pool = pool();
        let rule = pool.get_message_by_name("google.api.HttpRule").unwrap();
        let json = serde_json::json!({
            "get": "/v1/{name}",
            "additionalBindings": [
                {"post": "/v1/{name}:fetch", "body": "*"},
                {"custom": {"kind": "HEAD", "path": "/v1/{name}"}, "responseBody": "x"}
            ]
        });
        let rule = DynamicMessage::deserialize(rule, json).unwrap();
        assert_eq!(
            bindings(&rule),
            vec![
                Binding {
                    method: "GET".into(),
                    path: "/v1/{name}".into(),
                    body: "".into(),
                    response_body: "".into()
                },
                Binding {
                    method: "POST".into(),
                    path: "/v1/{name}:fetch".into(),
                    body: "*".into(),
                    response_body: "".into()
                },
                Binding {
                    method: "HEAD".into(),
                    path: "/v1/{name}".into(),
                    body: "".into(),
                    response_body: "x".into()
                },
            ]
        );
    }

    #[test]
    fn the_table_covers_every_annotated_rpc() {
        let pool = pool();
        let table = RouteTable::from_pool(&pool).unwrap();
        let annotated: usize = pool
            .services()
            .filter(|s| s.full_name().starts_with("catalog."))
            .map(|s| s.methods().count())
            .sum();
        assert_eq!(table.routes().len(), annotated);
        let found = |method: Method, path: &str| match table.lookup(&method, path) {
            Lookup::Found(route, values) => Some((route.rpc.name().to_string(), values)),
            _ => None,
        };
        assert_eq!(
            found(Method::GET, "/api/governance/v1alpha1/assets"),
            Some(("ListGovernedAssets".into(), vec![]))
        );
        assert_eq!(
            found(Method::GET, "/api/governance/v1alpha1/audit:verify"),
            Some(("VerifyAuditChain".into(), vec![]))
        );
        assert_eq!(
            found(Method::GET, "/api/governance/v1alpha1/audit/e1"),
            Some(("GetAuditEvent".into(), vec!["e1".into()]))
        );
        assert_eq!(
            found(
                Method::POST,
                "/api/governance/v1alpha1/assets/agents/Agent/a1/actions/lifecycle.setState"
            ),
            Some((
                "ExecuteGovernanceAction".into(),
                vec![
                    "agents".into(),
                    "Agent".into(),
                    "a1".into(),
                    "lifecycle.setState".into()
                ]
            ))
        );
        assert_eq!(
            found(
                Method::POST,
                "/api/catalog/v1alpha1/agents/assets/Agent/a1:action"
            ),
            Some((
                "ExecuteAssetAction".into(),
                vec!["agents".into(), "Agent".into(), "a1".into()]
            ))
        );
        assert_eq!(
            found(Method::PATCH, "/api/governance/v1alpha1/assets/p/K/n"),
            Some((
                "UpdateAssetGovernance".into(),
                vec!["p".into(), "K".into(), "n".into()]
            ))
        );
        assert!(matches!(
            table.lookup(&Method::DELETE, "/api/plugins"),
            Lookup::WrongMethod
        ));
        assert!(matches!(
            table.lookup(&Method::GET, "/api/nothing"),
            Lookup::NotFound
        ));
    }
}
