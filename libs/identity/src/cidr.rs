//! CIDR blocks and Envoy's `source.address` (`ip:port`).

use std::fmt;
use std::net::IpAddr;

/// An address block such as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(String);

impl fmt::Display for CidrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        all & !((1u128 << (width - prefix)) - 1)
    }
}

impl Cidr {
    /// Parses `addr/prefix`; a bare address is a single-host block. Host bits must be zero.
    /// A block of IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d/n`, `n` ≥ 96) is read as the
    /// IPv4 block `a.b.c.d/(n - 96)`.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| CidrError(format!("`{addr}` is not an IP address")))?;
        let width = bits(network).1;
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| {
                    CidrError(format!("prefix length must be 0 to {width}, found `{p}`"))
                })?,
            None => width,
        };
        let (value, _) = bits(network);
        if value & !mask(prefix, width) != 0 {
            return Err(CidrError(format!("`{text}` has host bits set")));
        }
        // A block of IPv4-mapped addresses (`::ffff:10.0.0.0/104`) is the IPv4 block it
        // stands for, as the addresses it is matched against are.
        if let (IpAddr::V6(v6), Some(shorter)) = (network, prefix.checked_sub(96)) {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return Ok(Self {
                    network: IpAddr::V4(v4),
                    prefix: shorter,
                });
            }
        }
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is inside the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let ((net, width), (value, ip_width)) = (bits(self.network), bits(ip));
        width == ip_width && value & mask(self.prefix, width) == net
    }
}

/// The IP of Envoy's `source.address` value (`1.2.3.4:5678`, `[::1]:5678`, or a bare IP).
pub fn parse_source_address(address: &str) -> Option<IpAddr> {
    if let Some(ip) = dotted_ipv4_with_port(address.as_bytes()) {
        return Some(IpAddr::V4(ip));
    }
    // With exactly one `:` it is `ipv4:port`: a bare IPv6 address has at least two, an
    // IPv4 address none, so parsing it whole is skipped.
    let colons = address.bytes().filter(|byte| *byte == b':').count();
    if colons != 1 {
        if let Ok(ip) = address.parse() {
            return Some(ip);
        }
    }
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    address.rsplit_once(':')?.0.parse().ok()
}

/// The common case of [`parse_source_address`] in one pass: `a.b.c.d:port` with decimal
/// octets of 1 to 3 digits, no leading zero, each at most 255 (what the standard parser
/// accepts); `None` for anything else, which the standard parser then decides.
fn dotted_ipv4_with_port(address: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut index = 0usize;
    let mut value = 0u16;
    let mut digits = 0u8;
    for &byte in address {
        match byte {
            b'0'..=b'9' => {
                if digits == 1 && value == 0 {
                    return None;
                }
                value = value * 10 + u16::from(byte - b'0');
                digits += 1;
                if digits > 3 || value > 255 {
                    return None;
                }
            }
            b'.' | b':' if digits > 0 => {
                *octets.get_mut(index)? = u8::try_from(value).ok()?;
                index += 1;
                value = 0;
                digits = 0;
                if byte == b':' {
                    return (index == 4).then(|| octets.into());
                }
            }
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_ipv4_fast_path_agrees_with_the_standard_parser() {
        let standard = |address: &str| -> Option<IpAddr> {
            match address.parse() {
                Ok(ip) => Some(ip),
                Err(_) => address.rsplit_once(':')?.0.parse().ok(),
            }
        };
        for address in [
            "127.0.0.1:5000",
            "10.0.0.255:1",
            "0.0.0.0:0",
            "01.2.3.4:5",
            "1.02.3.4:5",
            "256.1.1.1:2",
            "1.2.3:4",
            "1.2.3.4.5:6",
            "1.2.3.4",
            "1.2.3.4:",
            "1..3.4:5",
            "1.2.3.4 :5",
            "::1",
            "1000.2.3.4:5",
        ] {
            assert_eq!(
                parse_source_address(address),
                standard(address),
                "{address}"
            );
        }
    }

    #[test]
    fn ipv4_mapped_blocks_are_ipv4_blocks() {
        let block = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(block, Cidr::parse("10.0.0.0/8").unwrap());
        assert!(block.contains("10.1.2.3".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!block.contains("11.0.0.1".parse().unwrap()));
        assert!(!Cidr::parse("::/0")
            .unwrap()
            .contains("10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn contains_by_prefix() {
        let block = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(block.contains(ip("10.1.2.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(block.contains(ip("::ffff:10.1.0.9")));
        assert!(!block.contains(ip("fd00::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
    }

    #[test]
    fn bad_blocks_are_refused() {
        for bad in ["10.0.0.0/33", "10.0.0.1/8", "x/8", "10.0.0.0/", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn source_addresses() {
        assert_eq!(
            parse_source_address("127.0.0.1:4000"),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(parse_source_address("[::1]:4000"), Some(ip("::1")));
        assert_eq!(parse_source_address("::1"), Some(ip("::1")));
        assert_eq!(parse_source_address("nonsense"), None);
    }
}
