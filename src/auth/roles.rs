//! Who may do what: the one place that maps staff roles to permissions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A staff member's role. A lead can do everything an agent can, plus team work;
/// an admin manages staff accounts and settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Lead,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Agent, Role::Lead, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

/// Actions guarded by role. Endpoints ask for a permission, never for a role, so the
/// whole policy can be read (and tested) here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Create staff accounts, change roles, deactivate, reset passwords.
    ManageStaff,
    /// See the staff list (leads need it to assign work).
    ViewStaff,
    /// Open customer files, their orders and tags.
    ViewCustomers,
    /// Create and edit customers, their contacts, tags and orders, one at a time.
    EditCustomers,
    /// Import customers and orders from CSV.
    ImportCustomers,
    /// Tag or untag many customers at once; rename and delete tags.
    ManageTags,
    /// Archive (soft-delete) and restore customers.
    ArchiveCustomers,
    /// See tickets and work them. Which tickets a role may change (agents: their own),
    /// and who may assign or reopen, is the ticket workflow's rule (`tickets::workflow`).
    WorkTickets,
    /// Recompute every customer's tier.
    RecomputeTiers,
    /// See the team's statistics.
    ViewTeamStats,
}

impl Permission {
    /// For 403 problems: "your role may not <this>".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ManageStaff => "manage staff accounts",
            Permission::ViewStaff => "list staff accounts",
            Permission::ViewCustomers => "view customers",
            Permission::EditCustomers => "edit customers",
            Permission::ImportCustomers => "import customers and orders",
            Permission::ManageTags => "manage tags across customers",
            Permission::ArchiveCustomers => "archive customers",
            Permission::WorkTickets => "work tickets",
            Permission::RecomputeTiers => "recompute customer tiers",
            Permission::ViewTeamStats => "see the team's statistics",
        }
    }
}

pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match permission {
        ManageStaff => matches!(role, Admin),
        ViewStaff => matches!(role, Lead | Admin),
        ViewCustomers | EditCustomers | WorkTickets => matches!(role, Agent | Lead | Admin),
        ImportCustomers | ManageTags | ArchiveCustomers | RecomputeTiers | ViewTeamStats => {
            matches!(role, Lead | Admin)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_manage_staff() {
        assert!(allows(Role::Admin, Permission::ManageStaff));
        assert!(!allows(Role::Lead, Permission::ManageStaff));
        assert!(!allows(Role::Agent, Permission::ManageStaff));
    }

    #[test]
    fn leads_and_admins_see_staff_agents_do_not() {
        assert!(allows(Role::Lead, Permission::ViewStaff));
        assert!(allows(Role::Admin, Permission::ViewStaff));
        assert!(!allows(Role::Agent, Permission::ViewStaff));
    }

    #[test]
    fn everyone_works_customers_only_leads_and_admins_do_bulk_work() {
        for role in Role::ALL {
            assert!(allows(role, Permission::ViewCustomers));
            assert!(allows(role, Permission::EditCustomers));
        }
        for permission in [
            Permission::ImportCustomers,
            Permission::ManageTags,
            Permission::ArchiveCustomers,
            Permission::RecomputeTiers,
            Permission::ViewTeamStats,
        ] {
            assert!(!allows(Role::Agent, permission));
            assert!(allows(Role::Lead, permission));
            assert!(allows(Role::Admin, permission));
        }
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
