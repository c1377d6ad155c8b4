//! Legacy plugin paths (spec 08 §3.2, §3.3): `/api/{plugin}_catalog/…`
//! names the plugin inside a path segment, which `google.api.http`
//! templates cannot express, so these paths are rewritten onto their
//! canonical routes before routing. The base paths come from the plugin
//! registry: only `/api/<registered plugin>_catalog/v1alpha1/…` is
//! rewritten.
//!
//! | legacy (under `/api/{plugin}_catalog/v1alpha1`) | canonical |
//! |---|---|
//! | `/sources`, `/sources/{id}`, `/sources/{id}:action` | `/api/catalog/v1alpha1/{plugin}/sources…` |
//! | `/actions/{scope}` | `/api/catalog/v1alpha1/{plugin}/actions?scope={scope}` |
//! | `/entities/{name}:action`, `/{plural}/{name}:action` | `/api/catalog/v1alpha1/{plugin}/assets/{plural}/{name}:action` |
//! | `/entities/{name}` | `/api/catalog/v1alpha1/{plugin}/native/{plural}/{name}` |
//! | `/{plural}`, `/{plural}/{name}` | `/api/catalog/v1alpha1/{plugin}/native/{plural}…` |

use std::collections::HashMap;

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
        assert_eq!(rewrite("/api/nope_catalog/v1alpha1/things"), None);
        assert_eq!(rewrite("/api/agents_catalog/v2/agents"), None);
        assert_eq!(rewrite("/api/catalog/v1alpha1/agents/assets"), None);
        assert_eq!(rewrite("/api/agents_catalog/v1alpha1/a/b/c"), None);
    }
}
