//! The plugin registry: the built-in manifests compiled into the binary,
//! plus every `*.yaml` manifest found in `CATALOG_PLUGINS_DIR`. Adding an
//! asset kind means dropping one manifest file there; no code changes.

use std::path::Path;
use std::sync::Arc;

use crate::domain::plugin::PluginManifest;
use crate::domain::{Error, Reason};

/// Manifests shipped with the server, in registration order.
const BUILTIN: &[(&str, &str)] = &[
    ("model.yaml", include_str!("builtin/model.yaml")),
    ("mcp.yaml", include_str!("builtin/mcp.yaml")),
    ("knowledge.yaml", include_str!("builtin/knowledge.yaml")),
    ("prompts.yaml", include_str!("builtin/prompts.yaml")),
    ("agents.yaml", include_str!("builtin/agents.yaml")),
    ("guardrails.yaml", include_str!("builtin/guardrails.yaml")),
    ("policies.yaml", include_str!("builtin/policies.yaml")),
    ("skills.yaml", include_str!("builtin/skills.yaml")),
    ("datasets.yaml", include_str!("builtin/datasets.yaml")),
    ("evaluators.yaml", include_str!("builtin/evaluators.yaml")),
    ("benchmarks.yaml", include_str!("builtin/benchmarks.yaml")),
    ("notebooks.yaml", include_str!("builtin/notebooks.yaml")),
];

/// The registered plugins. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    plugins: Vec<Arc<PluginManifest>>,
}

impl Registry {
    /// The built-in plugins plus those of `extra_dir`.
    pub fn load(extra_dir: Option<&Path>) -> Result<Self, Error> {
        let mut registry = Registry::default();
        for (file, text) in BUILTIN {
            registry.add(PluginManifest::from_yaml(text, &format!("builtin/{file}"))?)?;
        }
        if let Some(dir) = extra_dir {
            for manifest in load_dir(dir)? {
                registry.add(manifest)?;
            }
        }
        Ok(registry)
    }

    /// Registers one manifest; names, catalog keys and kinds must be unique.
    pub fn add(&mut self, manifest: PluginManifest) -> Result<(), Error> {
        let conflict = self.plugins.iter().find(|p| {
            p.name() == manifest.name()
                || p.matches_catalog_key(&manifest.spec.catalog_key)
                || p.spec.entity.kind == manifest.spec.entity.kind
        });
        if let Some(existing) = conflict {
            return Err(Error::new(
                Reason::PluginManifestInvalid,
                format!(
                    "plugin {:?} clashes with the registered plugin {:?} (name, catalog key or kind already taken)",
                    manifest.name(),
                    existing.name()
                ),
            ));
        }
        self.plugins.push(Arc::new(manifest));
        Ok(())
    }

    /// All plugins in registration order.
    pub fn all(&self) -> &[Arc<PluginManifest>] {
        &self.plugins
    }

    /// The plugin named `name`.
    pub fn get(&self, name: &str) -> Result<&Arc<PluginManifest>, Error> {
        self.plugins
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = self.plugins.iter().map(|p| p.name()).collect();
                Error::new(
                    Reason::PluginNotFound,
                    format!(
                        "no plugin named {name:?}; registered plugins: {}",
                        known.join(", ")
                    ),
                )
                .with("plugin", name)
            })
    }

    /// The plugin whose `catalogs:` key is `key`.
    pub fn by_catalog_key(&self, key: &str) -> Option<&Arc<PluginManifest>> {
        self.plugins.iter().find(|p| p.matches_catalog_key(key))
    }

    /// The canonical kind of `plugin` named by `kind` (kind, plural or alias).
    pub fn resolve_kind(&self, plugin: &str, kind: &str) -> Result<&Arc<PluginManifest>, Error> {
        let manifest = self.get(plugin)?;
        if manifest.matches_kind(kind) {
            Ok(manifest)
        } else {
            Err(Error::new(
                Reason::KindNotFound,
                format!(
                    "plugin {plugin:?} has no kind {kind:?}; its kind is {}",
                    manifest.spec.entity.kind
                ),
            )
            .with("plugin", plugin)
            .with("kind", kind))
        }
    }
}

/// Every manifest of a folder, in file-name order.
fn load_dir(dir: &Path) -> Result<Vec<PluginManifest>, Error> {
    let unreadable = |e: std::io::Error| {
        Error::new(
            Reason::PluginManifestInvalid,
            format!("plugins folder {} cannot be read: {e}", dir.display()),
        )
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(unreadable)?;
            PluginManifest::from_yaml(&text, &path.display().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plugins_register() {
        let registry = Registry::load(None).unwrap();
        let names: Vec<&str> = registry.all().iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "model",
                "mcp",
                "knowledge",
                "prompts",
                "agents",
                "guardrails",
                "policies",
                "skills",
                "datasets",
                "evaluators",
                "benchmarks",
                "notebooks"
            ]
        );
        assert_eq!(registry.by_catalog_key("models").unwrap().name(), "model");
        assert_eq!(registry.by_catalog_key("model").unwrap().name(), "model");
        assert_eq!(
            registry
                .resolve_kind("mcp", "MCPSERVERS")
                .unwrap()
                .spec
                .entity
                .kind,
            "McpServer"
        );
        assert_eq!(
            registry.resolve_kind("mcp", "Agent").unwrap_err().reason,
            Reason::KindNotFound
        );
        assert_eq!(
            registry.get("nope").unwrap_err().reason,
            Reason::PluginNotFound
        );
    }

    #[test]
    fn every_builtin_reference_targets_a_registered_plugin_and_kind() {
        let registry = Registry::load(None).unwrap();
        for plugin in registry.all() {
            for reference in &plugin.spec.entity.references {
                let (target_plugin, target_kind) = reference.target_parts();
                let target = registry
                    .get(target_plugin)
                    .unwrap_or_else(|_| panic!("{}: {}", plugin.name(), reference.target));
                assert_eq!(
                    target.spec.entity.kind,
                    target_kind,
                    "{}: {}",
                    plugin.name(),
                    reference.path
                );
            }
            for filter in &plugin.spec.entity.filter_fields {
                assert!(
                    plugin.declares_path(&filter.path),
                    "{}: filter path {}",
                    plugin.name(),
                    filter.path
                );
            }
        }
    }
}
