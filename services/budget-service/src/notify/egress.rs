//! Where notification requests may connect: names are resolved here, every address is
//! checked against the operator's [`EgressPolicy`], and the client connects only to the
//! addresses checked (it resolves through [`GuardedResolver`]), so a DNS answer that changes
//! between the check and the connection cannot reach inside.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::egress::{EgressPolicy, Reach, UrlRefusal};

/// How long one name lookup may take.
pub(crate) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// A lookup's answer.
pub(crate) type Lookup = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves host names; the system resolver in production, a table in tests.
pub trait Resolver: Send + Sync {
    fn lookup(&self, name: &str) -> Lookup;
}

/// The system's resolver (getaddrinfo on a blocking thread).
struct SystemResolver;

impl Resolver for SystemResolver {
    fn lookup(&self, name: &str) -> Lookup {
        let name = name.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// Why a name gives no address to connect to.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("name lookup failed")]
    Lookup(#[source] std::io::Error),
    #[error("name lookup timed out")]
    TimedOut,
    #[error("the name has no address")]
    NoAddress,
    /// Some address it resolves to is off limits: the whole name is refused.
    #[error("the name resolves to an address that is not allowed")]
    Blocked,
}

/// The egress rules with the resolver that applies them; cheap to clone.
#[derive(Clone)]
pub struct TargetGuard {
    policy: Arc<EgressPolicy>,
    resolver: Arc<dyn Resolver>,
}

impl TargetGuard {
    /// The rules, resolving with the system's resolver.
    pub fn new(policy: EgressPolicy) -> TargetGuard {
        TargetGuard::with_resolver(policy, Arc::new(SystemResolver))
    }

    /// The rules with another resolver (tests: names that resolve inside, or change).
    pub fn with_resolver(policy: EgressPolicy, resolver: Arc<dyn Resolver>) -> TargetGuard {
        TargetGuard {
            policy: Arc::new(policy),
            resolver,
        }
    }

    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// Resolves `name` and returns its addresses when every one of them is allowed.
    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let addresses = tokio::time::timeout(LOOKUP_TIMEOUT, self.resolver.lookup(name))
            .await
            .map_err(|_| ResolveError::TimedOut)?
            .map_err(ResolveError::Lookup)?;
        if addresses.is_empty() {
            return Err(ResolveError::NoAddress);
        }
        if addresses
            .iter()
            .all(|ip| self.policy.allows_resolved(name, *ip))
        {
            Ok(addresses)
        } else {
            Err(ResolveError::Blocked)
        }
    }

    /// The check of a URL being saved as a target: its text passes the rules, and a name
    /// resolves to allowed addresses only. A name that does not resolve now is accepted:
    /// every send resolves and checks it again.
    pub async fn check_target(&self, url: &str) -> Result<(), UrlRefusal> {
        let url = url::Url::parse(url).map_err(|_| UrlRefusal::NotWeb)?;
        match self.policy.check_url(&url)? {
            Reach::Address(_) => Ok(()),
            Reach::Name(name) => match self.resolve(&name).await {
                Err(ResolveError::Blocked) => Err(UrlRefusal::LocalAddress),
                Ok(_) | Err(_) => Ok(()),
            },
        }
    }

    /// The resolver the notification client connects through.
    pub(super) fn reqwest_resolver(&self) -> GuardedResolver {
        GuardedResolver(self.clone())
    }
}

/// reqwest's resolver for notification requests: only checked addresses come out, so the
/// connection goes to an address that passed. (reqwest does not resolve IP literals; the
/// sender checks those with [`EgressPolicy::check_url`] before each request.)
pub(super) struct GuardedResolver(TargetGuard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addresses = guard.resolve(&name).await?;
            let addrs: reqwest::dns::Addrs = Box::new(
                addresses
                    .into_iter()
                    .map(|ip| std::net::SocketAddr::new(ip, 0)),
            );
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Names resolve from a table; anything else fails.
    pub(crate) struct Table(pub HashMap<String, Vec<IpAddr>>);

    impl Resolver for Table {
        fn lookup(&self, name: &str) -> Lookup {
            let found = self.0.get(name).cloned();
            Box::pin(async move {
                found.ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such name")
                })
            })
        }
    }

    fn guard(allow: &str, table: &[(&str, &[&str])]) -> TargetGuard {
        let table = table
            .iter()
            .map(|(name, ips)| {
                (
                    (*name).to_owned(),
                    ips.iter().map(|ip| ip.parse().unwrap()).collect(),
                )
            })
            .collect();
        TargetGuard::with_resolver(
            EgressPolicy {
                allow_http: false,
                allow: allow.parse().unwrap(),
            },
            Arc::new(Table(table)),
        )
    }

    #[tokio::test]
    async fn names_resolving_inside_are_refused_at_save_time() {
        let guard = guard(
            "receiver.internal",
            &[
                ("public.example", &["93.184.216.34"]),
                ("metadata.example", &["169.254.169.254"]),
                ("mixed.example", &["93.184.216.34", "10.0.0.1"]),
                ("mapped.example", &["::ffff:127.0.0.1"]),
                ("receiver.internal", &["10.1.2.3"]),
            ],
        );
        let check = |url: &'static str| {
            let guard = guard.clone();
            async move { guard.check_target(url).await }
        };
        assert_eq!(check("https://public.example/x").await, Ok(()));
        assert_eq!(check("https://receiver.internal/x").await, Ok(()));
        assert_eq!(
            check("https://unknown.example/x").await,
            Ok(()),
            "checked again at send time"
        );
        for url in [
            "https://metadata.example/",
            "https://mixed.example/",
            "https://mapped.example/",
            "https://127.0.0.1/",
        ] {
            assert_eq!(check(url).await, Err(UrlRefusal::LocalAddress), "{url}");
        }
        assert_eq!(
            check("http://public.example/").await,
            Err(UrlRefusal::PlainHttp)
        );
    }

    #[tokio::test]
    async fn the_resolver_gives_out_only_checked_addresses() {
        let guard = guard(
            "",
            &[
                ("public.example", &["93.184.216.34", "2606:4700::1"]),
                ("rebound.example", &["127.0.0.1"]),
            ],
        );
        let resolver = guard.reqwest_resolver();
        let resolve = |name: &str| reqwest::dns::Resolve::resolve(&resolver, name.parse().unwrap());
        let addrs: Vec<_> = resolve("public.example").await.unwrap().collect();
        assert_eq!(addrs.len(), 2);
        assert!(resolve("rebound.example").await.is_err());
        assert!(resolve("missing.example").await.is_err());
    }
}
