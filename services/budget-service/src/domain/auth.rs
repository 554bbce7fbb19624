//! Who may call which RPC for which tenant: the role table, as a pure function.

use super::tenant::TenantId;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything, for every tenant.
    PlatformAdmin,
    /// Read and change its own tenant's budget.
    TenantAdmin,
    /// Read only; every tenant or one.
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Service => "service",
        }
    }

    pub fn parse(raw: &str) -> Option<Role> {
        [Role::PlatformAdmin, Role::TenantAdmin, Role::Service]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The token's name: the actor in audit events.
    pub name: String,
    pub role: Role,
    /// The only tenant the token may touch; `None` for all.
    pub tenant: Option<TenantId>,
}

/// What an RPC does, for the role table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// WhoAmI: anyone authenticated.
    Identity,
    /// Reading one tenant's budget, alerts, history, audit or targets.
    ReadTenant,
    /// Listing tenants (filtered to the caller's scope).
    ListTenants,
    /// GetFleetSummary: figures over every tenant, for platform admins only.
    ReadFleet,
    /// UpdateBudgetConfig, SetNotificationTargets.
    WriteTenant,
    /// CreateTenant and every tenant lifecycle RPC but SuspendTenant.
    Administer,
    /// SuspendTenant: an emergency stop a tenant admin may pull on its own tenant (resuming
    /// is Administer).
    Suspend,
}

impl Principal {
    /// Whether the role table lets this caller do `access` on `tenant`.
    pub fn may(&self, access: Access, tenant: Option<&TenantId>) -> bool {
        let in_scope = match (&self.tenant, tenant) {
            (None, _) => true,
            (Some(own), Some(asked)) => own == asked,
            (Some(_), None) => false,
        };
        match (self.role, access) {
            (_, Access::Identity) => true,
            (Role::PlatformAdmin, _) => true,
            (_, Access::ListTenants) => true,
            (Role::TenantAdmin | Role::Service, Access::ReadTenant) => in_scope,
            (Role::TenantAdmin, Access::WriteTenant) => in_scope,
            (Role::Service, Access::WriteTenant) => false,
            (Role::TenantAdmin | Role::Service, Access::Administer | Access::ReadFleet) => false,
            (Role::TenantAdmin, Access::Suspend) => in_scope,
            (Role::Service, Access::Suspend) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, tenant: Option<&str>) -> Principal {
        Principal {
            name: "t".into(),
            role,
            tenant: tenant.and_then(TenantId::parse),
        }
    }

    #[test]
    fn the_role_table() {
        let acme = TenantId::parse("acme");
        let other = TenantId::parse("other");
        let (own, theirs) = (acme.as_ref(), other.as_ref());
        let admin = principal(Role::PlatformAdmin, None);
        let tenant_admin = principal(Role::TenantAdmin, Some("acme"));
        let service_all = principal(Role::Service, None);
        let service_one = principal(Role::Service, Some("acme"));
        use Access::*;
        for access in [
            Identity,
            ReadTenant,
            ListTenants,
            ReadFleet,
            WriteTenant,
            Administer,
            Suspend,
        ] {
            assert!(admin.may(access, theirs), "{access:?}");
        }
        assert!(tenant_admin.may(ReadTenant, own) && !tenant_admin.may(ReadTenant, theirs));
        assert!(tenant_admin.may(WriteTenant, own) && !tenant_admin.may(WriteTenant, theirs));
        assert!(!tenant_admin.may(Administer, None) && !tenant_admin.may(Administer, own));
        assert!(service_all.may(ReadTenant, theirs) && !service_all.may(WriteTenant, own));
        assert!(service_one.may(ReadTenant, own) && !service_one.may(ReadTenant, theirs));
        assert!(!service_one.may(Administer, own));
        assert!(tenant_admin.may(Suspend, own) && !tenant_admin.may(Suspend, theirs));
        assert!(!tenant_admin.may(Suspend, None));
        assert!(!service_all.may(Suspend, own) && !service_one.may(Suspend, own));
        for p in [&tenant_admin, &service_all, &service_one] {
            assert!(p.may(Identity, None) && p.may(ListTenants, None));
            assert!(!p.may(ReadFleet, None), "{p:?}");
        }
    }
}
