//! Identities: SPIFFE IDs, `x-forwarded-client-cert` values, CIDR blocks and Envoy's
//! `source.address` values.

use proptest::prelude::*;
use proptest::sample::select;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The trust domains the tests configure, and others.
pub const TRUST_DOMAINS: &[&str] = &["example.org", "example.org", "evil.org", "mesh.local"];

/// A SPIFFE ID: valid ones under a few trust domains, and each way of being invalid.
pub fn spiffe_id() -> BoxedStrategy<String> {
    let domain = prop_oneof![
        8 => select(TRUST_DOMAINS).prop_map(str::to_owned),
        2 => crate::regex("[a-z0-9._-]{1,12}"),
        1 => select(&["", "Example.org", "example.org:8443", "ex%41mple.org", "exa mple"][..])
            .prop_map(str::to_owned),
    ];
    let segment = prop_oneof![
        6 => select(&["ns", "shop", "ops", "sa", "frontend", "backoffice", "intruder", "batch"][..])
            .prop_map(str::to_owned),
        3 => crate::regex("[A-Za-z0-9._-]{1,8}"),
        1 => select(&["", ".", "..", "a%2Fb", "caf\u{e9}", "a b", "a:b"][..]).prop_map(str::to_owned),
    ];
    let scheme = select(
        &[
            "spiffe://",
            "spiffe://",
            "spiffe://",
            "spiffe://",
            "spiffe://",
            "SPIFFE://",
            "spiffe:/",
            "https://",
            "",
        ][..],
    );
    prop_oneof![
        20 => (scheme, domain, prop::collection::vec(segment, 0..6), select(&["", "", "", "", "/"][..]))
            .prop_map(|(scheme, domain, segments, trailing)| {
                let mut id = format!("{scheme}{domain}");
                for segment in segments {
                    id.push('/');
                    id.push_str(&segment);
                }
                id.push_str(trailing);
                id
            }),
        1 => Just(format!("spiffe://example.org/{}", "a".repeat(2100))),
    ].boxed()
}

/// An `x-forwarded-client-cert` value: elements of `key=value` pairs, values plain or
/// quoted with escapes, and malformed ones.
pub fn xfcc() -> BoxedStrategy<Vec<u8>> {
    let key = select(
        &[
            "By", "Hash", "Subject", "URI", "URI", "URI", "DNS", "uri", " URI ", "Foo", "",
        ][..],
    );
    let plain = prop_oneof![
        4 => spiffe_id(),
        2 => crate::regex("[A-Za-z0-9./:_-]{0,16}"),
        1 => Just("CN=client,O=shop".to_owned()),
    ];
    let value = prop_oneof![
        6 => plain.clone(),
        3 => plain.prop_map(|v| quote(&v)),
        1 => select(&["\"a,b;c=\\\"d\\\"\"", "\"open", "\"a\"x", "a\"b", "a=b", "\"\\"][..])
            .prop_map(str::to_owned),
    ];
    let pair = prop_oneof![
        10 => (key, value).prop_map(|(k, v)| format!("{k}={v}")),
        1 => select(&["URI", "=x", ""][..]).prop_map(str::to_owned),
    ];
    let element = prop::collection::vec(pair, 1..5).prop_map(|pairs| pairs.join(";"));
    prop_oneof![
        10 => prop::collection::vec(element, 1..4).prop_map(|elements| elements.join(",").into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..30),
    ].boxed()
}

/// `value` in double quotes, with `"` and `\` escaped.
pub fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// An IP address: IPv4, IPv6 and IPv4-mapped IPv6, with some of the tests' favourites.
pub fn ip() -> BoxedStrategy<IpAddr> {
    prop_oneof![
        4 => any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        2 => select(&[[127, 0, 0, 1], [10, 1, 2, 3], [10, 9, 9, 9], [192, 168, 0, 1], [0, 0, 0, 0]][..])
            .prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        2 => any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
        1 => any::<[u8; 4]>().prop_map(|o| IpAddr::V6(Ipv4Addr::from(o).to_ipv6_mapped())),
        1 => select(&[0u128, 1, 0xfd00 << 112][..]).prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
    ].boxed()
}

/// A CIDR text: `ip/prefix` with the host bits cleared or not, a bare address, and
/// malformed ones.
pub fn cidr() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (ip(), 0u8..=130, any::<bool>()).prop_map(|(ip, prefix, clear)| {
            let ip = if clear { network(ip, prefix) } else { ip };
            format!("{ip}/{prefix}")
        }),
        2 => ip().prop_map(|ip| ip.to_string()),
        2 => select(&[
            "10.0.0.0/8", "0.0.0.0/0", "::/0", "fd00::/8", "10.0.0.0/33", "10.0.0.1/8", "x/8",
            "10.0.0.0/", "/8", "01.2.3.4/32", " 10.0.0.0/8", "10.0.0.0/08", "10.0.0.0/+8",
            "::ffff:10.0.0.0/104", "10.0.0.0/8/8", "",
        ][..])
            .prop_map(str::to_owned),
        1 => crate::regex("[0-9a-f.:/]{0,20}"),
    ]
    .boxed()
}

/// `ip` with every bit past `prefix` cleared.
pub fn network(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & mask))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(bits & mask))
        }
    }
}

/// An Envoy `source.address`: `ip:port`, `[ipv6]:port`, a bare address, or a malformed one.
pub fn source_address() -> BoxedStrategy<String> {
    prop_oneof![
        8 => (ip(), any::<u16>()).prop_map(|(ip, port)| match ip {
            IpAddr::V4(v4) => format!("{v4}:{port}"),
            IpAddr::V6(v6) => format!("[{v6}]:{port}"),
        }),
        2 => ip().prop_map(|ip| ip.to_string()),
        2 => select(&[
            "127.0.0.1:40000", "10.9.9.9:40000", "01.2.3.4:5", "1.2.3.4:", "1.2.3.4:99999",
            "1.2.3.4:x", "256.1.1.1:2", "1..3.4:5", "[::1]", "[::1]:", "::1:80", "nonsense", "",
            "1.2.3.4 :5", "[1.2.3.4]:5",
        ][..])
            .prop_map(str::to_owned),
        1 => crate::regex("[0-9a-f.:\\[\\]]{0,24}"),
    ]
    .boxed()
}
