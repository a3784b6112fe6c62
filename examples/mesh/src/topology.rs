//! The shape of the demo mesh: its workloads, who calls whom, and the fixed ports and
//! paths written in the Envoy configurations of `examples/mesh/envoy/`.
//!
//! ```text
//! client ─► front :10000 ══mTLS══► a :10001 ─► app a :8001
//!                                   app a ─► a outbound :10011 ══mTLS══► b :10002 ─► app b :8002
//!                                                              ══mTLS══► c :10003 ─► app c :8003
//! ```
//!
//! Every workload has one Envoy (admin 9901..9904). The checked-in configurations use
//! these ports as written; [`crate::render`] maps them to the ports of a run.

/// The SPIFFE trust domain of every certificate in the mesh.
pub const TRUST_DOMAIN: &str = "wasmesh.local";

/// The folder the checked-in configurations read certificates from. A run rewrites it to
/// its own temporary folder; docker-compose.yaml mounts the certificates here.
pub const CONFIG_CERT_DIR: &str = "/tmp/wasmesh-mesh/certs";

/// Where the checked-in configurations write their access logs. A run rewrites it to
/// `access.log` in its temporary folder, shared by every Envoy.
pub const CONFIG_ACCESS_LOG: &str = "/dev/stdout";

/// The folder of the mesh's Envoy configurations, relative to the repository root.
pub const CONFIG_DIR: &str = "examples/mesh/envoy";

/// A service of the mesh: an application behind its own Envoy sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The service name: the `Host` callers use, the last segment of its SPIFFE ID.
    pub name: &'static str,
    /// The application's port (behind the sidecar, plaintext, loopback only).
    pub app_port: u16,
    /// The sidecar's `inbound` listener (mutual TLS), where callers connect.
    pub inbound_port: u16,
    /// The sidecar's `outbound` listener (plaintext, loopback), where the application
    /// sends its calls; only services that call others have one.
    pub outbound_port: Option<u16>,
    /// The sidecar's admin interface (`/stats/prometheus`).
    pub admin_port: u16,
    /// The calls the application makes for every request, as `service:/path`.
    pub calls: &'static [&'static str],
}

/// The edge proxy in front of the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Front {
    /// The workload name, also the last segment of its SPIFFE ID.
    pub name: &'static str,
    /// The `edge` listener clients send requests to (plaintext).
    pub edge_port: u16,
    /// The admin interface.
    pub admin_port: u16,
    /// The service every request goes to.
    pub upstream: &'static str,
}

/// The services, in start order: each after the services it calls, so that its
/// sidecar's configuration can point at ports that are already bound.
pub const SERVICES: [Service; 3] = [
    Service {
        name: "c",
        app_port: 8003,
        inbound_port: 10003,
        outbound_port: None,
        admin_port: 9904,
        calls: &[],
    },
    Service {
        name: "b",
        app_port: 8002,
        inbound_port: 10002,
        outbound_port: None,
        admin_port: 9903,
        calls: &[],
    },
    Service {
        name: "a",
        app_port: 8001,
        inbound_port: 10001,
        outbound_port: Some(10011),
        admin_port: 9902,
        calls: &["b:/api", "c:/items/1"],
    },
];

/// The services grouped for start-up: each group after the groups holding the services
/// its members call, so the members of one group can start at the same time.
pub fn start_groups() -> Vec<Vec<&'static Service>> {
    let mut groups: Vec<Vec<&'static Service>> = Vec::new();
    let mut group_of: Vec<(&str, usize)> = Vec::new();
    for service in &SERVICES {
        let group = service
            .calls
            .iter()
            .filter_map(|call| {
                let callee = called_service(call);
                group_of.iter().find(|(name, _)| *name == callee)
            })
            .map(|(_, group)| group + 1)
            .max()
            .unwrap_or(0);
        group_of.push((service.name, group));
        if groups.len() <= group {
            groups.resize_with(group + 1, Vec::new);
        }
        if let Some(members) = groups.get_mut(group) {
            members.push(service);
        }
    }
    groups
}

/// The edge proxy, started last.
pub const FRONT: Front = Front {
    name: "front",
    edge_port: 10000,
    admin_port: 9901,
    upstream: "a",
};

/// The SPIFFE ID of a workload: `spiffe://wasmesh.local/ns/demo/sa/<name>`.
pub fn spiffe_id(name: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/demo/sa/{name}")
}

/// Every workload with a certificate: the front proxy and the services.
pub fn workloads() -> Vec<&'static str> {
    std::iter::once(FRONT.name)
        .chain(SERVICES.iter().map(|s| s.name))
        .collect()
}

/// The service called `name`.
pub fn service(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The service a call spec (`service:/path`) goes to.
pub fn called_service(call: &str) -> &str {
    call.split_once(':').map_or(call, |(service, _)| service)
}

/// The configuration file of a workload, relative to the repository root.
pub fn config_file(workload: &str) -> String {
    format!("{CONFIG_DIR}/{workload}.yaml")
}

/// Every fixed port in the mesh: (workload, what, port), for the guide and port checks.
pub fn fixed_ports() -> Vec<(&'static str, &'static str, u16)> {
    let mut ports = vec![
        (FRONT.name, "edge listener", FRONT.edge_port),
        (FRONT.name, "admin", FRONT.admin_port),
    ];
    for service in &SERVICES {
        ports.push((service.name, "application", service.app_port));
        ports.push((service.name, "inbound listener", service.inbound_port));
        if let Some(port) = service.outbound_port {
            ports.push((service.name, "outbound listener", port));
        }
        ports.push((service.name, "admin", service.admin_port));
    }
    ports
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn services_start_after_the_services_they_call() {
        for (index, service) in SERVICES.iter().enumerate() {
            for call in service.calls {
                let callee = called_service(call);
                let position = SERVICES.iter().position(|s| s.name == callee).unwrap();
                assert!(position < index, "{} calls {callee}", service.name);
            }
            assert_eq!(
                service.outbound_port.is_some(),
                !service.calls.is_empty(),
                "{}: an outbound listener exactly when it calls others",
                service.name
            );
        }
        assert!(service(FRONT.upstream).is_some());
    }

    #[test]
    fn c_and_b_start_together_before_a() {
        let names: Vec<Vec<&str>> = start_groups()
            .iter()
            .map(|group| group.iter().map(|s| s.name).collect())
            .collect();
        assert_eq!(names, [vec!["c", "b"], vec!["a"]]);
    }

    #[test]
    fn fixed_ports_are_distinct_and_follow_the_repository_conventions() {
        let ports = fixed_ports();
        let mut numbers: Vec<u16> = ports.iter().map(|(_, _, port)| *port).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), ports.len());
        for (workload, what, port) in ports {
            let range = match what {
                "admin" => 9901..=9999,
                "application" => 8000..=8099,
                _ => 10000..=10099,
            };
            assert!(range.contains(&port), "{workload} {what} {port}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(spiffe_id("a"), "spiffe://wasmesh.local/ns/demo/sa/a");
        assert_eq!(workloads(), ["front", "c", "b", "a"]);
        assert_eq!(called_service("c:/items/1"), "c");
        assert_eq!(config_file("a"), "examples/mesh/envoy/a.yaml");
    }
}
