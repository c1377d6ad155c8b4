//! Everything catalogctl knows about plugins comes from here: the plugin
//! list and each plugin's capabilities document (spec 09), fetched from the
//! server. It resolves the names a user types (plugin, kind, plural or
//! alias, `plugin/kind/name`) against those documents and answers a
//! mistyped name with the closest valid one.

use super::client::Clients;
use super::errors::CliError;
use super::suggest;
use crate::proto::catalog::v1alpha1 as pb;

/// One asset, with its plugin's capabilities.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Plugin name.
    pub plugin: String,
    /// Canonical kind.
    pub kind: String,
    /// Asset name.
    pub name: String,
    /// The plugin's capabilities.
    pub caps: pb::PluginCapabilities,
}

impl Asset {
    /// The capabilities of the asset's kind.
    pub fn entity(&self) -> &pb::EntityCapabilities {
        self.caps
            .entities
            .iter()
            .find(|e| e.kind == self.kind)
            .expect("the kind was resolved from these capabilities")
    }

    /// `plugin/kind/name`, the global form of an asset argument.
    pub fn reference(&self) -> String {
        format!("{}/{}/{}", self.plugin, self.kind, self.name)
    }

    /// The governance capabilities of the asset's kind, when supported.
    pub fn governance(&self) -> Option<&pb::GovernanceCapabilities> {
        self.entity().governance.as_ref().filter(|g| g.supported)
    }
}

/// Every plugin the server hosts.
pub async fn plugins(clients: &Clients) -> Result<Vec<pb::PluginInfo>, CliError> {
    Ok(clients
        .plugins()
        .list_plugins(pb::ListPluginsRequest {})
        .await?
        .into_inner()
        .plugins)
}

/// The capabilities of `plugin`; an unknown name is a usage error that
/// names the closest plugin (or one of `also`, other valid words there).
pub async fn capabilities(
    clients: &Clients,
    plugin: &str,
    also: &[&str],
) -> Result<pb::PluginCapabilities, CliError> {
    match clients
        .plugins()
        .get_plugin_capabilities(pb::GetPluginCapabilitiesRequest {
            plugin: plugin.to_string(),
        })
        .await
    {
        Ok(caps) => Ok(caps.into_inner()),
        Err(status) if status.code() == tonic::Code::NotFound => {
            let known = plugins(clients).await?;
            let mut names: Vec<&str> = known.iter().map(|p| p.name.as_str()).collect();
            names.extend_from_slice(also);
            let what = if also.is_empty() {
                "unknown plugin"
            } else {
                "unknown command or plugin"
            };
            Err(CliError::usage(format!("{what} {plugin:?}"))
                .with_hint(suggest::hint(plugin, names)))
        }
        Err(status) => Err(status.into()),
    }
}

/// The kind of `caps` that `kind` names (kind, plural or alias, any case);
/// with no kind, the plugin's only kind.
pub fn entity<'a>(
    caps: &'a pb::PluginCapabilities,
    kind: Option<&str>,
) -> Result<&'a pb::EntityCapabilities, CliError> {
    let plugin = caps.plugin.as_ref().map(|p| p.name.as_str()).unwrap_or("");
    let kinds = || caps.entities.iter().map(|e| e.kind.as_str());
    match kind {
        None if caps.entities.len() == 1 => Ok(&caps.entities[0]),
        None => Err(CliError::usage(format!(
            "plugin {plugin} has several kinds; name one with --kind"
        ))
        .with_hint(Some(format!(
            "kinds: {}",
            kinds().collect::<Vec<_>>().join(", ")
        )))),
        Some(wanted) => caps
            .entities
            .iter()
            .find(|e| {
                e.kind.eq_ignore_ascii_case(wanted)
                    || e.plural.eq_ignore_ascii_case(wanted)
                    || e.aliases.iter().any(|a| a.eq_ignore_ascii_case(wanted))
            })
            .ok_or_else(|| {
                let mut names: Vec<&str> = kinds().collect();
                names.extend(caps.entities.iter().map(|e| e.plural.as_str()));
                CliError::usage(format!("plugin {plugin} has no kind {wanted:?}"))
                    .with_hint(suggest::hint(wanted, names))
            }),
    }
}

/// Resolves an asset argument. In a plugin's scope (`catalogctl agents get
/// NAME`) the argument is the name; otherwise it is `plugin/kind/name` (a
/// name may hold `/`: it is everything after the second one), or
/// `plugin/name` for a plugin with one kind.
pub async fn asset(
    clients: &Clients,
    scope: Option<&str>,
    argument: &str,
    kind: Option<&str>,
) -> Result<Asset, CliError> {
    let (plugin, kind, name) = match scope {
        Some(plugin) => (
            plugin.to_string(),
            kind.map(str::to_string),
            argument.to_string(),
        ),
        None => {
            let parts: Vec<&str> = argument.splitn(3, '/').collect();
            match parts.as_slice() {
                [plugin, kind, name] if !name.is_empty() => {
                    (plugin.to_string(), Some(kind.to_string()), name.to_string())
                }
                [plugin, name] if !name.is_empty() => {
                    (plugin.to_string(), kind.map(str::to_string), name.to_string())
                }
                _ => {
                    return Err(CliError::usage(format!(
                        "{argument:?} is not an asset: write PLUGIN/KIND/NAME (`catalogctl plugins list` names the plugins)"
                    )))
                }
            }
        }
    };
    let caps = capabilities(clients, &plugin, &[]).await?;
    let kind = entity(&caps, kind.as_deref())?.kind.clone();
    Ok(Asset {
        plugin,
        kind,
        name,
        caps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> pb::PluginCapabilities {
        pb::PluginCapabilities {
            plugin: Some(pb::PluginIdentity {
                name: "model".into(),
                ..Default::default()
            }),
            entities: vec![
                pb::EntityCapabilities {
                    kind: "CatalogModel".into(),
                    plural: "models".into(),
                    aliases: vec!["model".into()],
                    ..Default::default()
                },
                pb::EntityCapabilities {
                    kind: "ModelArtifact".into(),
                    plural: "artifacts".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn kinds_resolve_by_kind_plural_or_alias() {
        let caps = caps();
        assert_eq!(entity(&caps, Some("models")).unwrap().kind, "CatalogModel");
        assert_eq!(entity(&caps, Some("MODEL")).unwrap().kind, "CatalogModel");
        assert_eq!(
            entity(&caps, Some("ModelArtifact")).unwrap().plural,
            "artifacts"
        );
        let e = entity(&caps, None).unwrap_err();
        assert!(e.render().contains("--kind"), "{}", e.render());
        let e = entity(&caps, Some("CatalogModle")).unwrap_err();
        assert!(
            e.render().contains("did you mean \"CatalogModel\"?"),
            "{}",
            e.render()
        );
    }
}
