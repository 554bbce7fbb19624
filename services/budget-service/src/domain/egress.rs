//! Where alert notifications may go: which addresses are off limits (loopback, private,
//! link-local, CGNAT, unique-local, multicast, ... and their IPv4-in-IPv6 forms), the
//! operator's allow-list (`BUDGET_NOTIFY_ALLOW_HOSTS`) and the rules a target URL must meet.
//! Pure: resolving names and connecting are `notify/`'s; both it and target validation ask
//! [`EgressPolicy`], so a URL accepted at save time is judged the same way at send time.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// What an IP address is, as far as sending notifications to it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// A global unicast address: notifications may go there.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918: 10/8, 172.16/12, 192.168/16.
    Private,
    /// 169.254/16 (cloud metadata lives at 169.254.169.254), fe80::/10.
    LinkLocal,
    /// 100.64/10, carrier-grade NAT (RFC 6598).
    SharedAddressSpace,
    /// fc00::/7 (and the deprecated site-local fec0::/10).
    UniqueLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// Anything else set aside: IETF protocol assignments, benchmarking, 240/4, Teredo,
    /// local-use NAT64, IPv6 outside 2000::/3.
    Reserved,
}

/// Classifies an address. IPv4 embedded in IPv6 (mapped `::ffff:a.b.c.d`, compatible
/// `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`)
/// is judged by the IPv4 address it reaches.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// Whether notifications may go to `ip` without an allow-list entry.
pub fn is_public(ip: IpAddr) -> bool {
    classify(ip) == AddressClass::Public
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    use AddressClass::*;
    match ip.octets() {
        [0, ..] => Unspecified,
        [10, ..] => Private,
        [100, b, ..] if (64..128).contains(&b) => SharedAddressSpace,
        [127, ..] => Loopback,
        [169, 254, ..] => LinkLocal,
        [172, b, ..] if (16..32).contains(&b) => Private,
        [192, 0, 0, _] => Reserved,
        [192, 0, 2, _] => Documentation,
        [192, 88, 99, _] => Reserved,
        [192, 168, ..] => Private,
        [198, 18 | 19, ..] => Reserved,
        [198, 51, 100, _] => Documentation,
        [203, 0, 113, _] => Documentation,
        [224..=239, ..] => Multicast,
        [255, 255, 255, 255] => Broadcast,
        [240..=255, ..] => Reserved,
        _ => Public,
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    use AddressClass::*;
    let s = ip.segments();
    match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => Unspecified,
        [0, 0, 0, 0, 0, 0, 0, 1] => Loopback,
        // Mapped (::ffff:a.b.c.d), compatible (::a.b.c.d) and SIIT (::ffff:0:a.b.c.d).
        [0, 0, 0, 0, 0, 0xffff, h, l]
        | [0, 0, 0, 0, 0, 0, h, l]
        | [0, 0, 0, 0, 0xffff, 0, h, l] => classify_v4(embedded_v4(h, l)),
        // NAT64's well-known prefix reaches the IPv4 address it carries.
        [0x64, 0xff9b, 0, 0, 0, 0, h, l] => classify_v4(embedded_v4(h, l)),
        [0x64, 0xff9b, 1, ..] => Reserved,
        // 6to4 reaches the IPv4 address in its second and third groups.
        [0x2002, h, l, ..] => classify_v4(embedded_v4(h, l)),
        [0x2001, 0xdb8, ..] => Documentation,
        [0x3fff, b, ..] if b < 0x1000 => Documentation,
        // 2001::/23: IETF protocol assignments, Teredo (2001::/32) among them.
        [0x2001, b, ..] if b < 0x200 => Reserved,
        [a, ..] if a & 0xfe00 == 0xfc00 => UniqueLocal,
        [a, ..] if a & 0xffc0 == 0xfe80 => LinkLocal,
        [a, ..] if a & 0xffc0 == 0xfec0 => UniqueLocal,
        [a, ..] if a & 0xff00 == 0xff00 => Multicast,
        [a, ..] if a & 0xe000 == 0x2000 => Public,
        _ => Reserved,
    }
}

/// An IP network in CIDR notation ("10.0.0.0/8", "fd00::/8").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// The network of one address.
    pub fn host(addr: IpAddr) -> IpNet {
        let addr = addr.to_canonical();
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        IpNet { addr, prefix }
    }

    /// Whether `ip` (IPv4-mapped IPv6 counts as its IPv4 address) is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32u32.saturating_sub(u32::from(self.prefix)))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128u32.saturating_sub(u32::from(self.prefix)))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = ();

    fn from_str(raw: &str) -> Result<IpNet, ()> {
        let (addr, prefix) = raw.split_once('/').ok_or(())?;
        let addr: IpAddr = addr.parse().map_err(|_| ())?;
        let prefix: u8 = prefix.parse().map_err(|_| ())?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(());
        }
        Ok(IpNet { addr, prefix })
    }
}

/// One allow-list entry.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AllowEntry {
    /// A host name, lower case without a trailing dot; any port unless one is given.
    Name { name: String, port: Option<u16> },
    /// A network (an IP is a /32 or /128); with a port, only URLs naming that IP and port.
    Net { net: IpNet, port: Option<u16> },
}

/// The operator's exemptions from the address rules (`BUDGET_NOTIFY_ALLOW_HOSTS`): a
/// comma-separated list of host names, `host:port`, IPs, `ip:port` (`[v6]:port`) and CIDRs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<AllowEntry>,
}

/// Why an allow-list does not parse: the entry at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadAllowEntry(pub String);

impl fmt::Display for BadAllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a host, host:port, IP, IP:port or CIDR (e.g. receiver.internal:8443, 10.1.2.3, 10.0.0.0/8)",
            self.0
        )
    }
}

impl std::error::Error for BadAllowEntry {}

/// A host name as URLs carry it: lower case, no trailing dot.
fn canonical_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn parse_name(raw: &str) -> Option<String> {
    let name = canonical_name(raw);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(name)
}

fn parse_entry(raw: &str) -> Option<AllowEntry> {
    if raw.contains('/') {
        return raw
            .parse()
            .ok()
            .map(|net| AllowEntry::Net { net, port: None });
    }
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(AllowEntry::Net {
            net: IpNet::host(ip),
            port: None,
        });
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Some(AllowEntry::Net {
            net: IpNet::host(addr.ip()),
            port: Some(addr.port()),
        });
    }
    let (name, port) = match raw.rsplit_once(':') {
        Some((name, port)) => (name, Some(port.parse::<u16>().ok()?)),
        None => (raw, None),
    };
    Some(AllowEntry::Name {
        name: parse_name(name)?,
        port,
    })
}

impl FromStr for AllowList {
    type Err = BadAllowEntry;

    fn from_str(raw: &str) -> Result<AllowList, BadAllowEntry> {
        let entries = raw
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| parse_entry(entry).ok_or_else(|| BadAllowEntry(entry.to_owned())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowList { entries })
    }
}

impl AllowList {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether some entry names this host: `Some(true)` when one allows `port`, `Some(false)`
    /// when all of them are for other ports, `None` when none names it.
    fn name_rule(&self, host: &str, port: u16) -> Option<bool> {
        let host = canonical_name(host);
        let mut named = None;
        for entry in &self.entries {
            if let AllowEntry::Name { name, port: only } = entry
                && *name == host
            {
                let fits = only.is_none_or(|only| only == port);
                named = Some(named.unwrap_or(false) || fits);
            }
        }
        named
    }

    /// Whether a network entry covers `ip`; entries with a port count only when `port`
    /// (the URL's, for an IP literal) is that port.
    fn covers(&self, ip: IpAddr, port: Option<u16>) -> bool {
        self.entries.iter().any(|entry| match entry {
            AllowEntry::Net { net, port: only } => {
                net.contains(ip) && only.is_none_or(|only| port == Some(only))
            }
            AllowEntry::Name { .. } => false,
        })
    }
}

/// Why a URL may not be a notification target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not http(s), no host, or not a URL at all.
    NotWeb,
    /// Plain http while the operator does not allow it.
    PlainHttp,
    /// It names, or resolves to, an address that is off limits.
    LocalAddress,
}

/// Where a checked URL's request goes before any name is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// An IP literal, already checked.
    Address(IpAddr),
    /// A host name: every address it resolves to must pass [`EgressPolicy::allows_resolved`].
    Name(String),
}

/// The operator's rules for notification traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    /// `BUDGET_NOTIFY_ALLOW_HTTP`: plain http targets are accepted.
    pub allow_http: bool,
    /// `BUDGET_NOTIFY_ALLOW_HOSTS`.
    pub allow: AllowList,
}

impl EgressPolicy {
    /// Checks what the URL's text alone decides: the scheme, an IP literal's class, and a
    /// name the allow-list ties to other ports (so it counts as internal on this one).
    pub fn check_url(&self, url: &url::Url) -> Result<Reach, UrlRefusal> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(UrlRefusal::PlainHttp),
            _ => return Err(UrlRefusal::NotWeb),
        }
        let port = url.port_or_known_default().ok_or(UrlRefusal::NotWeb)?;
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(name)) if !name.is_empty() => {
                return match self.allow.name_rule(name, port) {
                    Some(false) => Err(UrlRefusal::LocalAddress),
                    _ => Ok(Reach::Name(canonical_name(name))),
                };
            }
            _ => return Err(UrlRefusal::NotWeb),
        };
        if is_public(ip) || self.allow.covers(ip, Some(port)) {
            Ok(Reach::Address(ip))
        } else {
            Err(UrlRefusal::LocalAddress)
        }
    }

    /// Whether a request for the host `name` (already passed through [`Self::check_url`])
    /// may connect to `ip`, one of the addresses it resolved to: a public address, an
    /// allow-listed name, or an address in an allow-listed network without a port.
    pub fn allows_resolved(&self, name: &str, ip: IpAddr) -> bool {
        is_public(ip) || self.allow.name_rule(name, 0).is_some() || self.allow.covers(ip, None)
    }
}

/// The receiver a URL reaches, "host:port" (the scheme's port when none is written), for
/// capping concurrent deliveries per receiver. `None` when it is not a URL with a host.
pub fn receiver_key(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let port = url.port_or_known_default()?;
    let host = url.host_str()?;
    Some(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    fn policy(allow: &str) -> EgressPolicy {
        EgressPolicy {
            allow_http: true,
            allow: allow.parse().unwrap(),
        }
    }

    fn check(policy: &EgressPolicy, url: &str) -> Result<Reach, UrlRefusal> {
        policy.check_url(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn internal_addresses_are_classified() {
        use AddressClass::*;
        for (raw, class) in [
            ("127.0.0.1", Loopback),
            ("127.255.1.2", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.1.1", Private),
            ("169.254.169.254", LinkLocal),
            ("100.64.0.1", SharedAddressSpace),
            ("100.127.255.255", SharedAddressSpace),
            ("0.0.0.0", Unspecified),
            ("0.1.2.3", Unspecified),
            ("255.255.255.255", Broadcast),
            ("224.0.0.1", Multicast),
            ("239.255.255.250", Multicast),
            ("240.0.0.1", Reserved),
            ("192.0.0.170", Reserved),
            ("198.18.0.1", Reserved),
            ("192.0.2.1", Documentation),
            ("198.51.100.7", Documentation),
            ("203.0.113.9", Documentation),
            ("::", Unspecified),
            ("::1", Loopback),
            ("fc00::1", UniqueLocal),
            ("fd12:3456::1", UniqueLocal),
            ("fec0::1", UniqueLocal),
            ("fe80::1", LinkLocal),
            ("febf::1", LinkLocal),
            ("ff02::1", Multicast),
            ("2001:db8::1", Documentation),
            ("3fff::1", Documentation),
            ("2001::1", Reserved),
            ("64:ff9b:1::1", Reserved),
            ("100::1", Reserved),
            ("5f00::1", Reserved),
            // IPv4 inside IPv6 is judged by the IPv4 address.
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:169.254.169.254", LinkLocal),
            ("::ffff:10.0.0.1", Private),
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("::ffff:0:192.168.0.1", Private),
            ("64:ff9b::a9fe:a9fe", LinkLocal),
            ("64:ff9b::127.0.0.1", Loopback),
            ("2002:7f00:1::", Loopback),
            ("2002:a9fe:a9fe::1", LinkLocal),
        ] {
            assert_eq!(classify(ip(raw)), class, "{raw}");
        }
        for raw in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(raw)), "{raw}");
        }
    }

    #[test]
    fn allow_lists_parse_hosts_ports_ips_and_cidrs() {
        let list: AllowList =
            " receiver.internal:8443, Hooks.Example.COM. ,10.0.0.0/8,127.0.0.1, [::1]:9000, 127.0.0.2:81, fd00::/8,"
                .parse()
                .unwrap();
        assert_eq!(list.entries.len(), 7);
        assert_eq!(list.name_rule("receiver.internal", 8443), Some(true));
        assert_eq!(list.name_rule("receiver.internal", 443), Some(false));
        assert_eq!(list.name_rule("hooks.example.com", 1), Some(true));
        assert_eq!(list.name_rule("HOOKS.example.com.", 1), Some(true));
        assert_eq!(list.name_rule("example.com", 1), None);
        assert!(list.covers(ip("10.9.8.7"), None));
        assert!(list.covers(ip("::ffff:10.9.8.7"), None));
        assert!(list.covers(ip("127.0.0.1"), Some(5)));
        assert!(!list.covers(ip("127.0.0.3"), Some(5)));
        assert!(list.covers(ip("::1"), Some(9000)));
        assert!(!list.covers(ip("::1"), Some(9001)));
        assert!(
            !list.covers(ip("::1"), None),
            "ip:port entries need the port"
        );
        assert!(list.covers(ip("127.0.0.2"), Some(81)));
        assert!(list.covers(ip("fd00::5"), None));
        assert!(!list.covers(ip("fe80::5"), None));
        assert_eq!("".parse::<AllowList>().unwrap(), AllowList::default());
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "host:port",
            "host:70000",
            "a..b",
            "http://x",
            "bad host",
            "10.0.0.0/x",
        ] {
            assert_eq!(
                format!("a.example, {bad}").parse::<AllowList>(),
                Err(BadAllowEntry(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_must_be_https_unless_http_is_allowed() {
        let strict = EgressPolicy::default();
        assert_eq!(
            check(&strict, "https://hooks.example.com/x"),
            Ok(Reach::Name("hooks.example.com".into()))
        );
        assert_eq!(
            check(&strict, "http://hooks.example.com/x"),
            Err(UrlRefusal::PlainHttp)
        );
        assert_eq!(
            check(&strict, "ftp://hooks.example.com/x"),
            Err(UrlRefusal::NotWeb)
        );
        assert_eq!(
            check(&policy(""), "http://hooks.example.com/x"),
            Ok(Reach::Name("hooks.example.com".into()))
        );
    }

    #[test]
    fn literal_internal_addresses_are_refused_unless_allowed() {
        let strict = policy("");
        for url in [
            "https://127.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.1:8443/",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://0.0.0.0/",
            // WHATWG URL parsing turns these into 127.0.0.1.
            "https://2130706433/",
            "https://0x7f.1/",
            "https://017700000001/",
        ] {
            assert_eq!(check(&strict, url), Err(UrlRefusal::LocalAddress), "{url}");
        }
        assert_eq!(
            check(&strict, "https://8.8.8.8/"),
            Ok(Reach::Address(ip("8.8.8.8")))
        );
        let open = policy("127.0.0.1, 10.0.0.0/8, [::1]:9000");
        assert_eq!(
            check(&open, "http://127.0.0.1:8099/x"),
            Ok(Reach::Address(ip("127.0.0.1")))
        );
        assert!(check(&open, "https://10.200.0.1/").is_ok());
        assert!(check(&open, "https://[::1]:9000/").is_ok());
        assert_eq!(
            check(&open, "https://[::1]:9001/"),
            Err(UrlRefusal::LocalAddress)
        );
        assert_eq!(
            check(&open, "https://127.0.0.2/"),
            Err(UrlRefusal::LocalAddress)
        );
    }

    #[test]
    fn resolved_addresses_pass_when_public_or_allowed() {
        let open = policy("receiver.internal:8443, 10.0.0.0/8, 127.0.0.2:80");
        assert_eq!(
            check(&open, "https://receiver.internal:8443/"),
            Ok(Reach::Name("receiver.internal".into()))
        );
        assert_eq!(
            check(&open, "https://receiver.internal/"),
            Err(UrlRefusal::LocalAddress),
            "an allowed name on another port is internal"
        );
        assert!(open.allows_resolved("receiver.internal", ip("192.168.1.1")));
        assert!(open.allows_resolved("rebind.example", ip("10.1.1.1")));
        assert!(open.allows_resolved("rebind.example", ip("93.184.216.34")));
        assert!(!open.allows_resolved("rebind.example", ip("127.0.0.1")));
        assert!(!open.allows_resolved("rebind.example", ip("::ffff:169.254.169.254")));
        assert!(
            !open.allows_resolved("rebind.example", ip("127.0.0.2")),
            "ip:port entries apply to URLs naming that IP"
        );
    }

    #[test]
    fn receiver_keys_are_host_and_port() {
        assert_eq!(
            receiver_key("https://Hooks.Example.com/a?b").as_deref(),
            Some("hooks.example.com:443")
        );
        assert_eq!(
            receiver_key("http://127.0.0.1:8099/x").as_deref(),
            Some("127.0.0.1:8099")
        );
        assert_eq!(receiver_key("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(receiver_key("nonsense"), None);
    }

    proptest! {
        #[test]
        fn every_ipv4_is_judged_the_same_in_every_ipv6_form(raw in any::<u32>()) {
            let v4 = Ipv4Addr::from(raw);
            let class = classify(IpAddr::V4(v4));
            let [a, b, c, d] = v4.octets();
            let high = u16::from_be_bytes([a, b]);
            let low = u16::from_be_bytes([c, d]);
            prop_assert_eq!(classify(IpAddr::V6(v4.to_ipv6_mapped())), class);
            prop_assert_eq!(classify(IpAddr::V6(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, high, low))), class);
            prop_assert_eq!(classify(IpAddr::V6(Ipv6Addr::new(0x2002, high, low, 0, 0, 0, 0, 1))), class);
            prop_assert_eq!(classify(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0xffff, 0, high, low))), class);
            if raw > 1 {
                prop_assert_eq!(classify(IpAddr::V6(v4.to_ipv6_compatible())), class);
            }
        }

        #[test]
        fn nothing_public_is_in_an_internal_range(raw in any::<u32>()) {
            let v4 = Ipv4Addr::from(raw);
            let internal = v4.is_private() || v4.is_loopback() || v4.is_link_local()
                || v4.is_multicast() || v4.is_broadcast() || v4.is_unspecified()
                || v4.is_documentation() || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]));
            if internal {
                prop_assert!(!is_public(IpAddr::V4(v4)), "{v4}");
            }
        }

        #[test]
        fn ipv6_outside_global_unicast_is_never_public(raw in any::<u128>()) {
            let v6 = Ipv6Addr::from(raw);
            let global_unicast = v6.segments()[0] & 0xe000 == 0x2000;
            let embeds_v4 = v6.to_ipv4().is_some()
                || v6.segments()[..2] == [0x64, 0xff9b]
                || v6.segments()[..6] == [0, 0, 0, 0, 0xffff, 0];
            if !global_unicast && !embeds_v4 {
                prop_assert!(!is_public(IpAddr::V6(v6)), "{v6}");
            }
            if v6.is_loopback() || v6.is_multicast() || v6.is_unspecified()
                || v6.segments()[0] & 0xfe00 == 0xfc00 || v6.segments()[0] & 0xffc0 == 0xfe80 {
                prop_assert!(!is_public(IpAddr::V6(v6)), "{v6}");
            }
        }

        #[test]
        fn a_cidr_contains_exactly_the_addresses_sharing_its_prefix(
            net in any::<u32>(), prefix in 0u8..=32, probe in any::<u32>()
        ) {
            let cidr: IpNet = format!("{}/{prefix}", Ipv4Addr::from(net)).parse().unwrap();
            let same = prefix == 0 || (net ^ probe) >> (32 - u32::from(prefix)) == 0;
            prop_assert_eq!(cidr.contains(IpAddr::V4(Ipv4Addr::from(probe))), same);
            prop_assert_eq!(cidr.contains(IpAddr::V6(Ipv4Addr::from(probe).to_ipv6_mapped())), same);
        }

        #[test]
        fn allow_list_parsing_never_panics(raw in "\\PC{0,80}") {
            let _ = raw.parse::<AllowList>();
        }

        #[test]
        fn url_checks_never_panic(raw in "(https?|ftp)://\\PC{0,60}") {
            if let Ok(url) = url::Url::parse(&raw) {
                let _ = policy("10.0.0.0/8, a.example:1").check_url(&url);
                let _ = receiver_key(&raw);
            }
        }
    }
}
