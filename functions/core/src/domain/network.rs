//! A client address as the security centre shows it: the network, never the host (a /24 of
//! IPv4, a /48 of IPv6), so the stored and shown value is enough to recognise "my office" or
//! "not my country" without being a personal address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The masked network of `raw`, or `None` when `raw` is not an IP address. An IPv4-mapped
/// IPv6 address (`::ffff:a.b.c.d`, what a dual-stack socket reports) is masked as IPv4.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct MaskedNetwork(String);

impl MaskedNetwork {
    pub fn of(raw: &str) -> Option<Self> {
        let ip: IpAddr = raw.trim().parse().ok()?;
        Some(Self(match ip {
            IpAddr::V4(v4) => mask_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => mask_v4(v4),
                None => {
                    let s = v6.segments();
                    format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
                }
            },
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn mask_v4(ip: Ipv4Addr) -> String {
    let [a, b, c, _] = ip.octets();
    format!("{}/24", Ipv4Addr::new(a, b, c, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_to_24_and_48() {
        for (raw, masked) in [
            ("192.0.2.123", "192.0.2.0/24"),
            ("10.1.2.3", "10.1.2.0/24"),
            ("255.255.255.255", "255.255.255.0/24"),
            (" 198.51.100.7 ", "198.51.100.0/24"),
            ("::ffff:203.0.113.9", "203.0.113.0/24"),
            ("2001:db8:abcd:12:34::1", "2001:db8:abcd::/48"),
            ("2001:0db8:0000:ffff::1", "2001:db8::/48"),
            ("::1", "::/48"),
            ("fe80::1%eth0", ""),
        ] {
            assert_eq!(MaskedNetwork::of(raw).map(|m| m.0).unwrap_or_default(), masked, "{raw}");
        }
    }

    #[test]
    fn anything_but_an_address_is_refused() {
        for raw in ["", "localhost", "192.0.2", "192.0.2.1/24", "1.2.3.4:80", "<script>"] {
            assert_eq!(MaskedNetwork::of(raw), None, "{raw}");
        }
    }
}
