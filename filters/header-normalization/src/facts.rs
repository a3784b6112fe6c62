//! What the rules need to know about the connection, read from the host only when a
//! request needs it (most requests need none of it).

use std::net::IpAddr;
use wasmesh_sdk::Host;

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

/// [`ConnectionFacts`] read from Envoy's attributes through the [`Host`].
#[derive(Clone, Copy)]
pub struct HostFacts<'h>(pub &'h dyn Host);

impl ConnectionFacts for HostFacts<'_> {
    fn source_ip(&mut self) -> Option<IpAddr> {
        wasmesh_identity::parse_source_address(&self.0.string(&["source", "address"])?)
    }

    fn mtls(&mut self) -> bool {
        self.0.mtls()
    }

    fn peer_uri_san(&mut self) -> Option<String> {
        self.0.peer_uri_san()
    }

    fn listener_port(&mut self) -> Option<u16> {
        self.0
            .int(&["destination", "port"])
            .and_then(|port| u16::try_from(port).ok())
    }
}
