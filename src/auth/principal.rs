//! Who is calling: the principal a verified token names, its roles, and the
//! fixed implications between the built-in roles (spec 08 §4.2).

use std::collections::BTreeSet;
use std::fmt;

/// The built-in roles. Tokens may carry other role names too (kept
/// verbatim), which only approval gates that list them care about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Changes the catalog: source, lifecycle, version and metadata actions.
    Operator,
    /// Decides approval requests whose gates list it.
    Approver,
    /// Decides approval requests whose gates list it (security reviews).
    SecurityApprover,
    /// Everything an operator may do, plus gates that list `admin`.
    Admin,
}

impl Role {
    /// Every built-in role.
    pub const ALL: &'static [Role] = &[
        Role::Viewer,
        Role::Operator,
        Role::Approver,
        Role::SecurityApprover,
        Role::Admin,
    ];

    /// The spelling in tokens, errors and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Approver => "approver",
            Role::SecurityApprover => "security-approver",
            Role::Admin => "admin",
        }
    }

    /// The built-in role spelled `name`, if any.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// The roles this one grants besides itself. An approver is
    /// deliberately not an operator, and admin is not an approver: gates
    /// must name admin to let it decide.
    pub fn implies(self) -> &'static [Role] {
        match self {
            Role::Viewer => &[],
            Role::Operator | Role::Approver | Role::SecurityApprover => &[Role::Viewer],
            Role::Admin => &[Role::Viewer, Role::Operator],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller. Handlers read it from the request extensions,
/// where the auth layer puts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The principal claim of the token (`sub` unless configured).
    pub subject: String,
    /// The token's roles after the role map, before implications.
    pub roles: BTreeSet<String>,
}

/// Subject prefix of internal actors, which no token can claim to be
/// confused with as long as identity providers do not issue `system:` ids.
const SYSTEM_PREFIX: &str = "system:";

impl Principal {
    /// A principal with the given roles.
    pub fn new<I, S>(subject: impl Into<String>, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Principal {
            subject: subject.into(),
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }

    /// The caller without a token when anonymous reads are enabled.
    pub fn anonymous() -> Self {
        Principal::new("anonymous", [Role::Viewer.as_str()])
    }

    /// An internal actor (`system("ingest")` is `system:ingest`). It holds
    /// the operator role because the server's own automation changes the
    /// catalog the way an operator would, and never decides approvals.
    pub fn system(name: &str) -> Self {
        let subject = if name.starts_with(SYSTEM_PREFIX) {
            name.to_string()
        } else {
            format!("{SYSTEM_PREFIX}{name}")
        };
        Principal::new(subject, [Role::Operator.as_str()])
    }

    /// Whether this is an internal actor rather than a token holder.
    pub fn is_system(&self) -> bool {
        self.subject.starts_with(SYSTEM_PREFIX)
    }

    /// The roles with their implications applied.
    pub fn effective_roles(&self) -> BTreeSet<String> {
        let mut out = self.roles.clone();
        for role in self.roles.iter().filter_map(|r| Role::parse(r)) {
            out.extend(role.implies().iter().map(|r| r.as_str().to_string()));
        }
        out
    }

    /// Whether the principal holds `role`, directly or by implication.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
            || self
                .roles
                .iter()
                .filter_map(|r| Role::parse(r))
                .any(|r| r.implies().iter().any(|i| i.as_str() == role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effective(roles: &[&str]) -> Vec<String> {
        Principal::new("p", roles.iter().copied())
            .effective_roles()
            .into_iter()
            .collect()
    }

    #[test]
    fn every_role_but_viewer_grants_viewer_and_admin_grants_operator() {
        assert_eq!(effective(&["viewer"]), ["viewer"]);
        assert_eq!(effective(&["operator"]), ["operator", "viewer"]);
        assert_eq!(effective(&["approver"]), ["approver", "viewer"]);
        assert_eq!(
            effective(&["security-approver"]),
            ["security-approver", "viewer"]
        );
        assert_eq!(effective(&["admin"]), ["admin", "operator", "viewer"]);
        assert_eq!(effective(&["auditor"]), ["auditor"]);
        assert!(effective(&[]).is_empty());
    }

    #[test]
    fn no_implication_reaches_the_approver_roles() {
        for role in Role::ALL {
            for implied in role.implies() {
                assert!(
                    !matches!(
                        implied,
                        Role::Approver | Role::SecurityApprover | Role::Admin
                    ),
                    "{role} implies {implied}"
                );
            }
        }
        let admin = Principal::new("a", ["admin"]);
        assert!(admin.has_role("operator"));
        assert!(admin.has_role("viewer"));
        assert!(!admin.has_role("approver"));
        let approver = Principal::new("b", ["approver"]);
        assert!(approver.has_role("viewer"));
        assert!(!approver.has_role("operator"));
    }

    #[test]
    fn has_role_agrees_with_effective_roles() {
        let sets: &[&[&str]] = &[
            &[],
            &["viewer"],
            &["operator"],
            &["approver", "custom"],
            &["admin"],
            &["security-approver"],
        ];
        let names: Vec<&str> = Role::ALL
            .iter()
            .map(|r| r.as_str())
            .chain(["custom"])
            .collect();
        for roles in sets {
            let principal = Principal::new("p", roles.iter().copied());
            let effective = principal.effective_roles();
            for name in &names {
                assert_eq!(
                    principal.has_role(name),
                    effective.contains(*name),
                    "{roles:?} / {name}"
                );
            }
        }
    }

    #[test]
    fn system_and_anonymous_principals() {
        let ingest = Principal::system("ingest");
        assert_eq!(ingest.subject, "system:ingest");
        assert_eq!(Principal::system("system:ingest"), ingest);
        assert!(ingest.is_system() && ingest.has_role("operator"));
        assert!(!ingest.has_role("approver"));
        let anonymous = Principal::anonymous();
        assert!(!anonymous.is_system());
        assert!(anonymous.has_role("viewer") && !anonymous.has_role("operator"));
    }
}
