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
        let read = [
            CustomersRead,
            LeadsRead,
            DealsRead,
            InteractionsRead,
            TasksRead,
            SegmentsRead,
            UsersRead,
            PurchasesRead,
            LoyaltyRead,
            CouponsRead,
            AnalyticsRead,
        ];
        let write = [
            CustomersWrite,
            LeadsWrite,
            DealsWrite,
            InteractionsWrite,
            TasksWrite,
            SegmentsWrite,
            PurchasesWrite,
            LoyaltyWrite,
            CouponsWrite,
        ];
        match self {
            Role::Admin => Scope::ALL.to_vec(),
            Role::Manager => read.into_iter().chain(write).chain([SettingsAdmin]).collect(),
            Role::Sales => read.into_iter().chain(write).collect(),
            Role::Support => read
                .into_iter()
                .chain([CustomersWrite, InteractionsWrite, TasksWrite, LoyaltyWrite, CouponsWrite])
                .collect(),
            Role::Viewer => read.to_vec(),
        }
    }
}

macro_rules! scopes {
    ($($variant:ident => $s:literal $(implied by $implied:ident)? $(, doc $doc:literal)?;)*) => {
        /// A permission. API keys carry an explicit list; users get theirs from their role.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Scope {
            $($(#[doc = $doc])? #[serde(rename = $s)] $variant,)*
        }

        impl Scope {
            pub const ALL: &[Scope] = &[$(Scope::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Scope::$variant => $s),* }
            }

            /// Whether holding `held` grants this scope: itself, or the write scope of the same
            /// resource for a read scope.
            pub fn implied_by(self, held: Scope) -> bool {
                held == self || match self { $($(Scope::$variant => held == Scope::$implied,)?)* _ => false }
            }
        }
    };
}

scopes! {
    CustomersRead => "customers:read" implied by CustomersWrite;
    CustomersWrite => "customers:write";
    LeadsRead => "leads:read" implied by LeadsWrite;
    LeadsWrite => "leads:write";
    DealsRead => "deals:read" implied by DealsWrite, doc "Deals, and the pipelines they move through.";
    DealsWrite => "deals:write";
    InteractionsRead => "interactions:read" implied by InteractionsWrite;
    InteractionsWrite => "interactions:write";
    TasksRead => "tasks:read" implied by TasksWrite;
    TasksWrite => "tasks:write";
    SegmentsRead => "segments:read" implied by SegmentsWrite;
    SegmentsWrite => "segments:write";
    PurchasesRead => "purchases:read" implied by PurchasesWrite, doc "Purchases and their refunds.";
    PurchasesWrite => "purchases:write";
    LoyaltyRead => "loyalty:read" implied by LoyaltyWrite, doc "Points balances, ledgers and the rewards catalogue.";
    LoyaltyWrite => "loyalty:write", doc "Redeem and adjust points, manage rewards.";
    CouponsRead => "coupons:read" implied by CouponsWrite;
    CouponsWrite => "coupons:write", doc "Manage and redeem coupons.";
    AnalyticsRead => "analytics:read", doc "Reports: RFM, purchase analytics, funnel and forecast.";
    UsersRead => "users:read" implied by UsersAdmin;
    UsersAdmin => "users:admin", doc "Manage users and API keys.";
    SettingsAdmin => "settings:admin", doc "Configure pipelines and stages, lead scoring rules and web forms.";
}

/// Written by hand: the derive cannot see renames that come from a macro, and would list the
/// variants' Rust names.
impl utoipa::PartialSchema for Scope {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Scope::ALL.iter().map(|s| s.as_str())))
            .description(Some("A permission: `<resource>:read` or `:write`, `users:admin`, `settings:admin`."))
            .into()
    }
}

impl ToSchema for Scope {}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.iter().copied().find(|scope| scope.as_str() == s)
    }
}

/// Who performed an action, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
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
        for &scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).ok(), Some(serde_json::json!(scope.as_str())));
            let schema = serde_json::to_value(<Scope as utoipa::PartialSchema>::schema()).unwrap_or_default();
            assert!(schema["enum"].as_array().is_some_and(|e| e.contains(&serde_json::json!(scope.as_str()))));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn viewer_cannot_write_and_admin_can_do_everything() {
        assert!(!Role::Viewer.scopes().contains(&Scope::CustomersWrite));
        assert!(Role::Viewer.scopes().contains(&Scope::CustomersRead));
        assert!(!Role::Sales.scopes().contains(&Scope::UsersAdmin));
        assert!(!Role::Sales.scopes().contains(&Scope::SettingsAdmin));
        assert!(Role::Manager.scopes().contains(&Scope::SettingsAdmin));
        assert!(!Role::Support.scopes().contains(&Scope::DealsWrite));
        assert!(Role::Support.scopes().contains(&Scope::TasksWrite));
        assert_eq!(Role::Admin.scopes(), Scope::ALL.to_vec());
    }

    #[test]
    fn write_implies_read_but_not_the_reverse() {
        assert!(Scope::CustomersRead.implied_by(Scope::CustomersWrite));
        assert!(!Scope::CustomersWrite.implied_by(Scope::CustomersRead));
        assert!(!Scope::UsersAdmin.implied_by(Scope::CustomersWrite));
        assert!(Scope::DealsRead.implied_by(Scope::DealsWrite));
        assert!(!Scope::DealsRead.implied_by(Scope::LeadsWrite));
    }
}
