//! The one definition of which hosts are loopback, private or link-local, shared by the edge's
//! upstream checks and the admin CLI.
//!
//! A host is read the way a URL parser reads it (WHATWG: `127.1`, `0x7f.0.0.1` and
//! `2130706433` are all 127.0.0.1), case-insensitively, with brackets and trailing dots dropped.
//!
//! ```text
//! Loopback   localhost, *.localhost (RFC 6761), 127.0.0.0/8, 0.0.0.0/8, ::1, ::
//! Private    10/8, 172.16/12, 192.168/16, 100.64/10, 198.18/15, multicast, 240/4, broadcast,
//!            fc00::/7, fec0::/10, ff00::/8
//! LinkLocal  169.254/16, fe80::/10
//! IPv6 forms of an IPv4 address (::ffff:a.b.c.d, ::a.b.c.d) take the class of that address.
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

/// What a host names, as far as the upstream rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// This machine: never a vendor's registry outside local development.
    Loopback,
    /// A private, shared or non-unicast address.
    Private,
    /// A link-local address (cloud metadata services live here).
    LinkLocal,
    /// A public IP literal.
    PublicIp,
    /// A DNS name that is not a loopback name (it may still resolve anywhere).
    Name,
}

impl HostKind {
    /// Loopback, private or link-local: reachable only from inside a network.
    pub fn is_local(self) -> bool {
        matches!(self, HostKind::Loopback | HostKind::Private | HostKind::LinkLocal)
    }

    /// Any IP literal, or a name that is loopback by definition: not a registry's DNS name.
    pub fn is_ip_or_local(self) -> bool {
        self != HostKind::Name
    }
}

/// Classifies a host name or IP literal (with or without brackets or a trailing dot).
pub fn host_kind(host: &str) -> HostKind {
    let trimmed = host.trim().trim_end_matches('.');
    let bare = trimmed.trim_start_matches('[').trim_end_matches(']');
    let parsed = if bare.contains(':') { url::Host::parse(&format!("[{bare}]")) } else { url::Host::parse(bare) };
    match parsed {
        Ok(url::Host::Ipv4(ip)) => ipv4_kind(ip),
        Ok(url::Host::Ipv6(ip)) => ipv6_kind(ip),
        Ok(url::Host::Domain(name)) => domain_kind(&name),
        // Not a host a URL can name (a zone id, a stray character): never treat it as public.
        Err(_) => match domain_kind(&bare.to_ascii_lowercase()) {
            HostKind::Loopback => HostKind::Loopback,
            _ => HostKind::Private,
        },
    }
}

/// Whether a host is this machine (`localhost`, `*.localhost`, 127/8, 0/8, `::1`, `::`).
pub fn is_loopback(host: &str) -> bool {
    host_kind(host) == HostKind::Loopback
}

fn domain_kind(name: &str) -> HostKind {
    let name = name.trim_end_matches('.');
    if name == "localhost" || name.ends_with(".localhost") {
        HostKind::Loopback
    } else {
        HostKind::Name
    }
}

fn ipv4_kind(ip: Ipv4Addr) -> HostKind {
    let [a, b, _, _] = ip.octets();
    if a == 127 || a == 0 {
        HostKind::Loopback
    } else if a == 169 && b == 254 {
        HostKind::LinkLocal
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) || (a == 198 && (b == 18 || b == 19)) || a >= 224
    {
        HostKind::Private
    } else {
        HostKind::PublicIp
    }
}

fn ipv6_kind(ip: Ipv6Addr) -> HostKind {
    if ip.is_loopback() || ip.is_unspecified() {
        return HostKind::Loopback;
    }
    // Mapped (::ffff:a.b.c.d) and compatible (::a.b.c.d) forms reach the IPv4 address.
    if let Some(v4) = ip.to_ipv4() {
        return ipv4_kind(v4);
    }
    let [first, ..] = ip.segments();
    if first & 0xffc0 == 0xfe80 {
        HostKind::LinkLocal
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 || first & 0xff00 == 0xff00 {
        HostKind::Private
    } else {
        HostKind::PublicIp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_forms() {
        for host in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "registry.localhost",
            "a.b.localhost.",
            "127.0.0.1",
            "127.255.255.254",
            "127.0.0.1.",
            "127.1",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "2130706433",
            "0.0.0.0",
            "::1",
            "[::1]",
            "::",
            "[0:0:0:0:0:0:0:1]",
            "::ffff:127.0.0.1",
            "[::ffff:7f00:1]",
        ] {
            assert_eq!(host_kind(host), HostKind::Loopback, "{host}");
            assert!(is_loopback(host), "{host}");
        }
    }

    #[test]
    fn private_and_link_local_forms() {
        for (host, want) in [
            ("10.0.0.1", HostKind::Private),
            ("172.16.0.1", HostKind::Private),
            ("172.31.255.255", HostKind::Private),
            ("192.168.1.1", HostKind::Private),
            ("100.64.0.1", HostKind::Private),
            ("198.18.0.1", HostKind::Private),
            ("224.0.0.1", HostKind::Private),
            ("255.255.255.255", HostKind::Private),
            ("fd00::1", HostKind::Private),
            ("[fc00::1]", HostKind::Private),
            ("::ffff:10.1.2.3", HostKind::Private),
            ("::ffff:192.168.0.1", HostKind::Private),
            ("169.254.169.254", HostKind::LinkLocal),
            ("fe80::1", HostKind::LinkLocal),
            ("[fe80::1%25eth0]", HostKind::Private),
            ("bad host!", HostKind::Private),
            ("::ffff:169.254.169.254", HostKind::LinkLocal),
        ] {
            assert_eq!(host_kind(host), want, "{host}");
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn public_addresses_and_names_are_not_local() {
        for (host, want) in [
            ("8.8.8.8", HostKind::PublicIp),
            ("172.32.0.1", HostKind::PublicIp),
            ("100.128.0.1", HostKind::PublicIp),
            ("2606:4700::1111", HostKind::PublicIp),
            ("::ffff:8.8.8.8", HostKind::PublicIp),
            ("ghcr.io", HostKind::Name),
            ("GHCR.IO.", HostKind::Name),
            ("localhost.example.com", HostKind::Name),
            ("notlocalhost", HostKind::Name),
            ("127.0.0.1.example.com", HostKind::Name),
        ] {
            assert_eq!(host_kind(host), want, "{host}");
            assert!(!want.is_local(), "{host}");
        }
    }
}
