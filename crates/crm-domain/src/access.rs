//! Who may do what: roles for people, scopes for API keys, and the mapping between them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user's role in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Manager,
    Sales,
    Support,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Manager, Role::Sales, Role::Support, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Sales => "sales",
            Role::Support => "support",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The scopes a signed-in user of this role holds.
    pub fn scopes(self) -> Vec<Scope> {
        use Scope::*;
        match self {
            Role::Admin => Scope::ALL.to_vec(),
            Role::Manager | Role::Sales | Role::Support => vec![CustomersRead, CustomersWrite, UsersRead],
            Role::Viewer => vec![CustomersRead, UsersRead],
        }
    }
}

/// A permission. API keys carry an explicit list; users get theirs from their role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Scope {
    #[serde(rename = "customers:read")]
    CustomersRead,
    #[serde(rename = "customers:write")]
    CustomersWrite,
    #[serde(rename = "users:read")]
    UsersRead,
    /// Manage users and API keys.
    #[serde(rename = "users:admin")]
    UsersAdmin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::CustomersRead, Scope::CustomersWrite, Scope::UsersRead, Scope::UsersAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::UsersRead => "users:read",
            Scope::UsersAdmin => "users:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// A write scope implies reading the same resource.
    pub fn implied_by(self, held: Scope) -> bool {
        held == self
            || matches!(
                (self, held),
                (Scope::CustomersRead, Scope::CustomersWrite) | (Scope::UsersRead, Scope::UsersAdmin)
            )
    }
}

/// Who performed an action, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Actor {
    User(crate::UserId),
    ApiKey(crate::ApiKeyId),
    System,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).ok(), Some(serde_json::json!(scope.as_str())));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn viewer_cannot_write_and_admin_can_do_everything() {
        assert!(!Role::Viewer.scopes().contains(&Scope::CustomersWrite));
        assert!(Role::Viewer.scopes().contains(&Scope::CustomersRead));
        assert!(!Role::Sales.scopes().contains(&Scope::UsersAdmin));
        assert_eq!(Role::Admin.scopes(), Scope::ALL.to_vec());
    }

    #[test]
    fn write_implies_read_but_not_the_reverse() {
        assert!(Scope::CustomersRead.implied_by(Scope::CustomersWrite));
        assert!(!Scope::CustomersWrite.implied_by(Scope::CustomersRead));
        assert!(!Scope::UsersAdmin.implied_by(Scope::CustomersWrite));
    }
}
