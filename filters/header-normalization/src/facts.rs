//! What the rules need to know about the connection, read from the host only when a
//! request needs it (most requests need none of it).

use std::net::IpAddr;
use wasmesh_sdk::properties;

/// Facts about the connection a request came on.
pub trait ConnectionFacts {
    /// The caller's IP address (`source.address`).
    fn source_ip(&mut self) -> Option<IpAddr>;
    /// Whether the connection is mutual TLS (`connection.mtls`).
    fn mtls(&mut self) -> bool;
    /// The URI SAN of the verified peer certificate.
    fn peer_uri_san(&mut self) -> Option<String>;
    /// The port of the listener the request came in on (`destination.port`).
    fn listener_port(&mut self) -> Option<u16>;
}

/// [`ConnectionFacts`] read from Envoy's attributes.
#[derive(Debug, Default, Clone, Copy)]
pub struct HostFacts;

impl ConnectionFacts for HostFacts {
    fn source_ip(&mut self) -> Option<IpAddr> {
        properties::source_ip()
    }

    fn mtls(&mut self) -> bool {
        properties::mtls() == Some(true)
    }

    fn peer_uri_san(&mut self) -> Option<String> {
        properties::peer_uri_san()
    }

    fn listener_port(&mut self) -> Option<u16> {
        properties::int(&["destination", "port"]).and_then(|port| u16::try_from(port).ok())
    }
}
