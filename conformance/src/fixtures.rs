//! Fixtures: per-plugin data templates in `fixtures/data/<plugin>.yaml`
//! with `${RUN}` where the run id goes. Each run renders its own copy
//! under the work folder (which the server must be allowed to read:
//! CATALOG_SOURCE_ROOTS) and loads it as a new source through the
//! `validate` and `apply` source actions, so runs never share assets.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A fixture rendered for this run.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Absolute path of the rendered data file.
    pub path: PathBuf,
    /// `sha256:<hex>` of its bytes: the revision a YAML source reports.
    pub digest: String,
}

/// Renders `fixtures/data/<plugin>.yaml` into `work_dir`.
pub fn render(
    fixtures: &Path,
    work_dir: &Path,
    plugin: &str,
    run_id: &str,
) -> Result<Rendered, String> {
    let template = fixtures.join("data").join(format!("{plugin}.yaml"));
    let text = std::fs::read_to_string(&template).map_err(|e| {
        format!(
            "no fixture data for plugin {plugin:?} ({}: {e}); add one with three valid entries named ct-<plural>-${{RUN}}-1..3 and one nameless entry",
            template.display()
        )
    })?;
    std::fs::create_dir_all(work_dir)
        .map_err(|e| format!("cannot create {}: {e}", work_dir.display()))?;
    let path = work_dir.join(format!("{plugin}.yaml"));
    let bytes = text.replace("${RUN}", run_id).into_bytes();
    std::fs::write(&path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let path = path
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    Ok(Rendered {
        path,
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
    })
}

/// The source entry the harness applies for one plugin.
pub fn source_definition(source_id: &str, rendered: &Rendered) -> serde_json::Value {
    serde_json::json!({
        "id": source_id,
        "name": format!("Conformance fixtures ({source_id})"),
        "type": "yaml",
        "enabled": true,
        "labels": ["conformance"],
        "properties": {"yamlCatalogPath": rendered.path.display().to_string()},
    })
}

/// The names of the policy rules the suite expects (fixtures/approval-policies.yaml).
pub fn expected_rule_names(fixtures: &Path) -> Result<Vec<String>, String> {
    let path = fixtures.join("approval-policies.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: serde_json::Value =
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(doc["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter_map(|r| r["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default())
}
