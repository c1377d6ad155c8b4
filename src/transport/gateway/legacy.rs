//! Legacy plugin paths (spec 08 §3.2, §3.3): `/api/{plugin}_catalog/…`
//! names the plugin inside a path segment, which `google.api.http`
//! templates cannot express, so these paths are rewritten onto their
//! canonical routes before routing. The base paths come from the plugin
//! registry: only `/api/<registered plugin>_catalog/v1alpha1/…` is
//! rewritten.
//!
//! | legacy (under `/api/{plugin}_catalog/v1alpha1`) | canonical |
//! |---|---|
//! | `/sources/{id}/{plural}/{name…}` | `/api/catalog/v1alpha1/{plugin}/native/{plural}/{name}?sourceId={id}` |
//! | `/sources/{id}/{plural}/{name…}/artifacts` | `/api/catalog/v1alpha1/{plugin}/native/{plural}/{name}/artifacts?sourceId={id}` |
//! | `/sources`, `/sources/{id}`, `/sources/{id}:action` | `/api/catalog/v1alpha1/{plugin}/sources…` |
//! | `/actions/{scope}` | `/api/catalog/v1alpha1/{plugin}/actions?scope={scope}` |
//! | `/entities/{name}:action`, `/{plural}/{name}:action` | `/api/catalog/v1alpha1/{plugin}/assets/{plural}/{name}:action` |
//! | `/entities/{name}` | `/api/catalog/v1alpha1/{plugin}/native/{plural}/{name}` |
//! | `/{plural}`, `/{plural}/{name}` | `/api/catalog/v1alpha1/{plugin}/native/{plural}…` |
//!
//! The per-source rows are the Kubeflow model catalog's
//! `/sources/{source_id}/models/{model_name=**}[/artifacts]`, offered for
//! every plugin's plural.

use std::collections::HashMap;

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

/// Legacy base path segment (`{plugin}_catalog`) -> (plugin, entity plural).
#[derive(Debug, Clone, Default)]
pub struct LegacyPaths {
    plugins: HashMap<String, (String, String)>,
}

impl LegacyPaths {
    /// From (plugin name, entity plural) pairs of the registry.
    pub fn new<I: IntoIterator<Item = (String, String)>>(plugins: I) -> LegacyPaths {
        LegacyPaths {
            plugins: plugins
                .into_iter()
                .map(|(name, plural)| (format!("{name}_catalog"), (name, plural)))
                .collect(),
        }
    }

    /// The canonical path and extra query parameters for a legacy path,
    /// or None when `path` is not one.
    pub fn rewrite(&self, path: &str) -> Option<(String, Option<String>)> {
        let rest = path.strip_prefix("/api/")?;
        let (base, rest) = rest.split_once('/')?;
        let (plugin, plural) = self.plugins.get(base)?;
        let rest = rest.strip_prefix("v1alpha1/")?;
        let canonical = format!("/api/catalog/v1alpha1/{plugin}");
        let segments: Vec<&str> = rest.split('/').collect();
        Some(match segments.as_slice() {
            ["sources", id, kind, name @ ..] if *kind == plural.as_str() && !name.is_empty() => {
                per_source(&canonical, plural, id, name)
            }
            ["sources", ..] => (format!("{canonical}/{rest}"), None),
            ["actions", scope] => (
                format!("{canonical}/actions"),
                Some(format!("scope={scope}")),
            ),
            // Asset actions (ExecuteAssetAction), whose kind accepts a plural.
            ["entities", name] if name.ends_with(":action") => {
                (format!("{canonical}/assets/{plural}/{name}"), None)
            }
            [kind, name] if name.ends_with(":action") => {
                (format!("{canonical}/assets/{kind}/{name}"), None)
            }
            ["entities", name] => (format!("{canonical}/native/{plural}/{name}"), None),
            [kind] | [kind, _] if !kind.is_empty() && *kind != "actions" => {
                (format!("{canonical}/native/{rest}"), None)
            }
            _ => return None,
        })
    }
}

/// A per-source native path. There the name may span segments (Kubeflow's
/// `{model_name=**}`); the canonical routes take it as one segment, so
/// its `/` become `%2F` (a `**` variable must end a template, and the
/// artifacts route continues after the name). A trailing `artifacts`
/// segment names the artifact list, as in Kubeflow: a record whose name
/// ends in `/artifacts` is reached with that `/` sent as `%2F`.
fn per_source(canonical: &str, plural: &str, id: &str, name: &[&str]) -> (String, Option<String>) {
    let (name, suffix) = match name {
        [rest @ .., "artifacts"] if !rest.is_empty() => (rest, "/artifacts"),
        all => (all, ""),
    };
    // The id moves from the path into the query, where `+` means a space:
    // decode it as a path segment and encode it again for the query.
    let id = percent_decode_str(id).decode_utf8_lossy();
    (
        format!("{canonical}/native/{plural}/{}{suffix}", name.join("%2F")),
        Some(format!(
            "sourceId={}",
            utf8_percent_encode(&id, NON_ALPHANUMERIC)
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_paths_map_onto_canonical_routes() {
        let legacy = LegacyPaths::new([
            ("agents".to_string(), "agents".to_string()),
            ("model".to_string(), "models".to_string()),
        ]);
        let rewrite = |p: &str| legacy.rewrite(p);
        assert_eq!(
            rewrite("/api/agents_catalog/v1alpha1/sources"),
            Some(("/api/catalog/v1alpha1/agents/sources".into(), None))
        );
        assert_eq!(
            rewrite("/api/agents_catalog/v1alpha1/sources/s1:action"),
            Some((
                "/api/catalog/v1alpha1/agents/sources/s1:action".into(),
                None
            ))
        );
        assert_eq!(
            rewrite("/api/agents_catalog/v1alpha1/actions/source"),
            Some((
                "/api/catalog/v1alpha1/agents/actions".into(),
                Some("scope=source".into())
            ))
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/entities/org%2Fm1"),
            Some((
                "/api/catalog/v1alpha1/model/native/models/org%2Fm1".into(),
                None
            ))
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/models"),
            Some(("/api/catalog/v1alpha1/model/native/models".into(), None))
        );
        assert_eq!(
            rewrite("/api/agents_catalog/v1alpha1/agents/a1"),
            Some(("/api/catalog/v1alpha1/agents/native/agents/a1".into(), None))
        );
        for path in [
            "/api/agents_catalog/v1alpha1/entities/a1:action",
            "/api/agents_catalog/v1alpha1/agents/a1:action",
        ] {
            assert_eq!(
                rewrite(path),
                Some((
                    "/api/catalog/v1alpha1/agents/assets/agents/a1:action".into(),
                    None
                )),
                "{path}"
            );
        }
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/sources/hf/models/org/m1"),
            Some((
                "/api/catalog/v1alpha1/model/native/models/org%2Fm1".into(),
                Some("sourceId=hf".into())
            ))
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/sources/hf/models/org%2Fm1"),
            Some((
                "/api/catalog/v1alpha1/model/native/models/org%2Fm1".into(),
                Some("sourceId=hf".into())
            ))
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/sources/a+b%20c/models/org/m1/artifacts"),
            Some((
                "/api/catalog/v1alpha1/model/native/models/org%2Fm1/artifacts".into(),
                Some("sourceId=a%2Bb%20c".into())
            ))
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/sources/hf/models/artifacts"),
            Some((
                "/api/catalog/v1alpha1/model/native/models/artifacts".into(),
                Some("sourceId=hf".into())
            )),
            "a record named artifacts"
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/sources/hf"),
            Some(("/api/catalog/v1alpha1/model/sources/hf".into(), None))
        );
        assert_eq!(
            rewrite("/api/model_catalog/v1alpha1/sources/hf/agents/a1"),
            Some((
                "/api/catalog/v1alpha1/model/sources/hf/agents/a1".into(),
                None
            )),
            "another plugin's plural is not a per-source route"
        );
        assert_eq!(rewrite("/api/nope_catalog/v1alpha1/things"), None);
        assert_eq!(rewrite("/api/agents_catalog/v2/agents"), None);
        assert_eq!(rewrite("/api/catalog/v1alpha1/agents/assets"), None);
        assert_eq!(rewrite("/api/agents_catalog/v1alpha1/a/b/c"), None);
    }
}
