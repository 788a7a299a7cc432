//! Who may do what: the one place that maps staff roles, and integrations' API key
//! scopes, to permissions.

use crate::db::text_enum;

text_enum! {
    /// A staff member's role. A lead can do everything an agent can, plus team work;
    /// an admin manages staff accounts and settings.
    pub enum Role {
        Agent = "agent",
        Lead = "lead",
        Admin = "admin",
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
    /// Create and edit customers, their contacts and tags, one at a time.
    EditCustomers,
    /// Record and correct orders (one at a time, or through the order feed).
    RecordOrders,
    /// Import customers and orders from CSV.
    ImportCustomers,
    /// Export the customer file (or a filtered part of it) as CSV: the whole file leaves
    /// the service, so it is a lead's job, and every export is audited.
    ExportCustomers,
    /// Tag or untag many customers at once; rename and delete tags.
    ManageTags,
    /// Archive (soft-delete) and restore customers.
    ArchiveCustomers,
    /// See tickets and their timelines.
    ViewTickets,
    /// Open tickets (by hand or from the review feed).
    OpenTickets,
    /// Work tickets: contacts, edits, resolution. Which tickets a role may change (agents:
    /// their own), and who may assign or reopen, is the ticket workflow's rule
    /// (`tickets::workflow`).
    WorkTickets,
    /// Reassign, close or re-prioritise many tickets in one request: sorting out the team's
    /// queue is a lead's job (each ticket still goes through the workflow's rules).
    WorkTicketsInBulk,
    /// Recompute every customer's tier.
    RecomputeTiers,
    /// See the team's statistics.
    ViewTeamStats,
    /// Create and revoke API keys; register webhooks and see their deliveries.
    ManageIntegrations,
    /// Read the audit log (who exported what).
    ViewAuditLog,
    /// Write, edit and delete the team's call scripts (话术): what agents say on the phone
    /// is a lead's call. Agents read them (`ViewTickets`).
    ManageCallScripts,
    /// Set the shop's service levels: its working calendar and its targets (admins: they
    /// decide what the shop promises its buyers).
    ManageServiceLevels,
    /// Delete any attachment on the shop's tickets, at any time (a photo on the wrong
    /// ticket, a receipt showing a buyer's card): a lead's call. Uploaders delete their own
    /// for a short while after uploading (`attachments::rules::may_delete`).
    RemoveAttachments,
    /// Write the product catalogue (SKUs, names, usage days): leads and admins. Any staff
    /// member reads it (`ViewCustomers`).
    ManageProducts,
    /// Keep the shop's list of greeting occasions (holidays and shopping festivals):
    /// admins, like the shop's other settings. Any staff member reads it.
    ManageOccasions,
}

impl Permission {
    /// For 403 problems: "your role may not <this>".
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ManageStaff => "manage staff accounts",
            Permission::ViewStaff => "list staff accounts",
            Permission::ViewCustomers => "view customers",
            Permission::EditCustomers => "edit customers",
            Permission::RecordOrders => "record orders",
            Permission::ImportCustomers => "import customers and orders",
            Permission::ExportCustomers => "export the customer file",
            Permission::ManageTags => "manage tags across customers",
            Permission::ArchiveCustomers => "archive customers",
            Permission::ViewTickets => "view tickets",
            Permission::OpenTickets => "open tickets",
            Permission::WorkTickets => "work tickets",
            Permission::WorkTicketsInBulk => "change many tickets at once",
            Permission::RecomputeTiers => "recompute customer tiers",
            Permission::ViewTeamStats => "see the team's statistics",
            Permission::ManageIntegrations => "manage API keys and webhooks",
            Permission::ViewAuditLog => "read the audit log",
            Permission::ManageCallScripts => "manage call scripts",
            Permission::ManageServiceLevels => "set the shop's service levels",
            Permission::RemoveAttachments => "delete other people's attachments",
            Permission::ManageProducts => "edit the product catalogue",
            Permission::ManageOccasions => "edit the shop's greeting occasions",
        }
    }
}

pub fn allows(role: Role, permission: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match permission {
        ManageStaff | ManageIntegrations | ViewAuditLog | ManageServiceLevels | ManageOccasions => {
            matches!(role, Admin)
        }
        ViewStaff => matches!(role, Lead | Admin),
        ViewCustomers | EditCustomers | RecordOrders | ViewTickets | OpenTickets | WorkTickets => {
            matches!(role, Agent | Lead | Admin)
        }
        ImportCustomers | ExportCustomers | ManageTags | ArchiveCustomers | RecomputeTiers
        | ViewTeamStats | ManageCallScripts | WorkTicketsInBulk | RemoveAttachments
        | ManageProducts => {
            matches!(role, Lead | Admin)
        }
    }
}

text_enum! {
    /// What an integration's API key may be granted. Keys act for systems, not people: no
    /// scope lets a key work a ticket (calls are made by staff), manage staff or keys.
    pub enum Scope {
        CustomersRead = "customers:read",
        CustomersWrite = "customers:write",
        OrdersWrite = "orders:write",
        TicketsRead = "tickets:read",
        TicketsWrite = "tickets:write",
        StatsRead = "stats:read",
    }
}

/// The scope an API key needs for `permission`; `None`: keys may never do it.
pub fn scope_for(permission: Permission) -> Option<Scope> {
    use Permission::*;
    match permission {
        ViewCustomers => Some(Scope::CustomersRead),
        EditCustomers => Some(Scope::CustomersWrite),
        RecordOrders => Some(Scope::OrdersWrite),
        ViewTickets => Some(Scope::TicketsRead),
        OpenTickets => Some(Scope::TicketsWrite),
        ViewTeamStats => Some(Scope::StatsRead),
        // Call scripts are words for people on the phone; no integration writes them.
        ManageStaff | ViewStaff | ImportCustomers | ExportCustomers | ManageTags
        | ArchiveCustomers | WorkTickets | WorkTicketsInBulk | RecomputeTiers
        | ManageIntegrations | ViewAuditLog | ManageCallScripts | ManageServiceLevels
        | RemoveAttachments | ManageProducts | ManageOccasions => None,
    }
}

/// The permission that reads what `write` changes. A write scope is not a read scope: the
/// answer to a write shows the record written only to a caller who could read it anyway
/// (`Principal::sees_what_it_writes`); others get a receipt, its id and what happened.
/// Recording orders counts as the customer file (orders are read with `customers:read`).
pub fn reading_of(write: Permission) -> Permission {
    use Permission::*;
    match write {
        ManageStaff | ViewStaff => ViewStaff,
        ViewCustomers | EditCustomers | RecordOrders | ImportCustomers | ManageTags
        | ArchiveCustomers | RecomputeTiers | ExportCustomers | ManageProducts
        | ManageOccasions => ViewCustomers,
        ViewTickets | OpenTickets | WorkTickets | WorkTicketsInBulk | ManageCallScripts
        | ManageServiceLevels | RemoveAttachments => ViewTickets,
        ViewTeamStats => ViewTeamStats,
        ManageIntegrations => ManageIntegrations,
        ViewAuditLog => ViewAuditLog,
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
            Permission::ExportCustomers,
            Permission::ManageTags,
            Permission::ArchiveCustomers,
            Permission::RecomputeTiers,
            Permission::ViewTeamStats,
            Permission::ManageCallScripts,
            Permission::WorkTicketsInBulk,
            Permission::RemoveAttachments,
            Permission::ManageProducts,
        ] {
            assert!(!allows(Role::Agent, permission));
            assert!(allows(Role::Lead, permission));
            assert!(allows(Role::Admin, permission));
        }
    }

    #[test]
    fn only_admins_keep_the_greeting_occasions() {
        assert!(allows(Role::Admin, Permission::ManageOccasions));
        assert!(!allows(Role::Lead, Permission::ManageOccasions));
        assert!(!allows(Role::Agent, Permission::ManageOccasions));
        assert_eq!(scope_for(Permission::ManageOccasions), None);
        assert_eq!(scope_for(Permission::ManageProducts), None);
    }

    #[test]
    fn only_admins_read_the_audit_log() {
        assert!(allows(Role::Admin, Permission::ViewAuditLog));
        assert!(!allows(Role::Lead, Permission::ViewAuditLog));
        assert!(!allows(Role::Agent, Permission::ViewAuditLog));
    }

    #[test]
    fn keys_never_manage_staff_keys_or_work_tickets() {
        for permission in [
            Permission::ManageStaff,
            Permission::ManageIntegrations,
            Permission::WorkTickets,
            // tickets:write opens tickets; changing many at once is working them, which
            // only people do.
            Permission::WorkTicketsInBulk,
            Permission::ViewStaff,
            // The customer file leaves only with a person, and on the record.
            Permission::ExportCustomers,
            Permission::ViewAuditLog,
            Permission::ManageCallScripts,
            Permission::RemoveAttachments,
        ] {
            assert_eq!(scope_for(permission), None, "{permission:?}");
        }
        assert_eq!(
            scope_for(Permission::RecordOrders),
            Some(Scope::OrdersWrite)
        );
        assert_eq!(
            scope_for(Permission::OpenTickets),
            Some(Scope::TicketsWrite)
        );
        assert!(allows(Role::Admin, Permission::ManageIntegrations));
        assert!(!allows(Role::Lead, Permission::ManageIntegrations));
    }

    #[test]
    fn writing_is_never_reading() {
        assert_eq!(
            reading_of(Permission::EditCustomers),
            Permission::ViewCustomers
        );
        assert_eq!(
            reading_of(Permission::RecordOrders),
            Permission::ViewCustomers
        );
        assert_eq!(reading_of(Permission::OpenTickets), Permission::ViewTickets);
        // For keys, every write scope's reading needs a scope of its own.
        for write in [
            Permission::EditCustomers,
            Permission::RecordOrders,
            Permission::OpenTickets,
        ] {
            let read = scope_for(reading_of(write));
            assert!(read.is_some(), "{write:?}");
            assert_ne!(read, scope_for(write), "{write:?}");
        }
        // Staff read whatever they may write.
        for role in Role::ALL {
            for write in [
                Permission::EditCustomers,
                Permission::RecordOrders,
                Permission::OpenTickets,
            ] {
                assert!(!allows(role, write) || allows(role, reading_of(write)));
            }
        }
    }

    #[test]
    fn scope_names_round_trip() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
            assert_eq!(serde_json::to_value(scope).unwrap(), scope.as_str());
        }
        assert_eq!(Scope::parse("admin"), None);
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
