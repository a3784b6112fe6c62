//! The running demo mesh: certificates, three applications, four Envoys.
//!
//! [`Mesh::start`] makes a temporary folder with the certificates
//! ([`crate::certs`]) and the shared access log, then starts every service in the order of
//! [`topology::start_groups`] (application listener bound first, then its Envoy with a configuration
//! pointing at the ports already bound, then the application), and the front proxy last.
//! Envoy runs through the e2e harness ([`wasmesh_e2e::Envoy`]): unique `--base-id`,
//! readiness through the admin interface, `/quitquitquit` then SIGKILL on drop, and
//! (on Linux) killed by the kernel if this process dies.
//!
//! Dropping the [`Mesh`] stops the front proxy, the sidecars and the applications, and
//! removes the temporary folder (kept when `WASMESH_E2E_KEEP=1`).

use crate::app::{App, Dependency};
use crate::certs;
use crate::render::Rewrite;
use crate::server::AppServer;
use crate::topology::{self, Service, FRONT};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use wasmesh_e2e::envoy::KEEP_ENV;
use wasmesh_e2e::{paths, Envoy, EnvoyConfig};

/// Which ports the mesh listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// The ports written in the configurations (`make run`, the guide).
    Fixed,
    /// Ports the system picks, so that several meshes (tests) run at once.
    Any,
}

impl Ports {
    /// The port to listen on for a port written as `fixed`.
    fn listen(self, fixed: u16) -> u16 {
        match self {
            Ports::Fixed => fixed,
            Ports::Any => 0,
        }
    }
}

/// Meshes started by this process so far; part of each one's folder name.
static NEXT_MESH: AtomicU32 = AtomicU32::new(0);

/// A service about to start: its application's bound listener and its sidecar's ports.
struct Prepared {
    name: &'static str,
    listener: TcpListener,
    port_map: Vec<(u16, u16)>,
    dependencies: Vec<Dependency>,
}

/// A running mesh; dropping it stops everything it started.
#[derive(Debug)]
pub struct Mesh {
    dir: PathBuf,
    apps: Vec<(&'static str, AppServer)>,
    envoys: Vec<(&'static str, Envoy)>,
}

impl Mesh {
    /// Starts the whole mesh and returns once every Envoy is ready.
    pub fn start(ports: Ports) -> Result<Self, String> {
        let mut mesh = Self {
            dir: create_dir()?,
            apps: Vec::new(),
            envoys: Vec::new(),
        };
        let cert_dir = mesh.cert_dir();
        std::fs::create_dir_all(&cert_dir)
            .map_err(|e| format!("cannot create {}: {e}", cert_dir.display()))?;
        certs::generate(&cert_dir, &topology::workloads())?;
        let access_log = mesh.access_log_path();
        std::fs::File::create(&access_log)
            .map_err(|e| format!("cannot create {}: {e}", access_log.display()))?;
        for group in topology::start_groups() {
            mesh.start_services(&group, ports)?;
        }
        let upstream = topology::service(FRONT.upstream).ok_or_else(|| {
            format!(
                "the front proxy's upstream {} is no service",
                FRONT.upstream
            )
        })?;
        let port_map = vec![
            (FRONT.admin_port, ports.listen(FRONT.admin_port)),
            (FRONT.edge_port, ports.listen(FRONT.edge_port)),
            (upstream.inbound_port, mesh.inbound(upstream.name)?.port()),
        ];
        let envoy = mesh.start_envoy(FRONT.name, port_map)?;
        mesh.envoys.push((FRONT.name, envoy));
        Ok(mesh)
    }

    /// Starts services that do not call each other: binds their applications' ports,
    /// starts their sidecars at the same time, then the applications.
    fn start_services(
        &mut self,
        services: &[&'static Service],
        ports: Ports,
    ) -> Result<(), String> {
        let mut prepared = Vec::new();
        for service in services {
            prepared.push(self.prepare(service, ports)?);
        }
        let this = &*self;
        let started: Vec<Result<Envoy, String>> = std::thread::scope(|scope| {
            let starting: Vec<_> = prepared
                .iter()
                .map(|service| {
                    scope.spawn(|| this.start_envoy(service.name, service.port_map.clone()))
                })
                .collect();
            starting
                .into_iter()
                .map(|thread| {
                    thread
                        .join()
                        .unwrap_or_else(|_| Err("an Envoy start-up thread panicked".to_owned()))
                })
                .collect()
        });
        // Every Envoy that started is kept, so that dropping the mesh stops it.
        let mut first_error = None;
        for (service, envoy) in prepared.into_iter().zip(started) {
            match envoy {
                Ok(envoy) => self.add_service(service, envoy)?,
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Binds the application's port and works out its sidecar's port map.
    fn prepare(&self, service: &'static Service, ports: Ports) -> Result<Prepared, String> {
        let listen = SocketAddr::from(([127, 0, 0, 1], ports.listen(service.app_port)));
        let listener = TcpListener::bind(listen)
            .map_err(|e| format!("{}: cannot listen on {listen}: {e}", service.name))?;
        let app_port = listener
            .local_addr()
            .map_err(|e| format!("{}: no local address: {e}", service.name))?
            .port();
        let mut port_map = vec![
            (service.admin_port, ports.listen(service.admin_port)),
            (service.inbound_port, ports.listen(service.inbound_port)),
            (service.app_port, app_port),
        ];
        if let Some(outbound) = service.outbound_port {
            port_map.push((outbound, ports.listen(outbound)));
        }
        let mut dependencies = Vec::new();
        for call in service.calls {
            let dependency = Dependency::parse(call)?;
            let callee = topology::service(&dependency.service)
                .ok_or_else(|| format!("{}: calls unknown service in {call}", service.name))?;
            let peer = (callee.inbound_port, self.inbound(callee.name)?.port());
            if !port_map.contains(&peer) {
                port_map.push(peer);
            }
            dependencies.push(dependency);
        }
        Ok(Prepared {
            name: service.name,
            listener,
            port_map,
            dependencies,
        })
    }

    /// Keeps the started sidecar and starts the application behind it.
    fn add_service(&mut self, service: Prepared, envoy: Envoy) -> Result<(), String> {
        let outbound = envoy.listener("outbound").ok();
        self.envoys.push((service.name, envoy));
        let app = App {
            name: service.name.to_owned(),
            outbound,
            dependencies: service.dependencies,
        };
        self.apps
            .push((service.name, AppServer::start(app, service.listener)?));
        Ok(())
    }

    /// Renders `<workload>.yaml` for this run into the mesh folder and starts Envoy on it.
    fn start_envoy(&self, workload: &str, ports: Vec<(u16, u16)>) -> Result<Envoy, String> {
        let source = paths::repo_root().join(topology::config_file(workload));
        let yaml = std::fs::read_to_string(&source)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let rewrite = Rewrite {
            ports,
            cert_dir: self.cert_dir().display().to_string(),
            access_log: self.access_log_path().display().to_string(),
        };
        let rendered = rewrite.apply(&source.display().to_string(), &yaml)?;
        let target = self.dir.join(format!("{workload}.yaml"));
        std::fs::write(&target, rendered)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        let config = EnvoyConfig::from_file(&target)?.keep_ports();
        Envoy::start(&config).map_err(|e| format!("{workload}'s Envoy did not start: {e}"))
    }

    /// The front proxy's `edge` listener, where clients send requests.
    pub fn edge(&self) -> Result<SocketAddr, String> {
        self.envoy(FRONT.name)?.listener("edge")
    }

    /// The `inbound` listener of `service`'s sidecar (mutual TLS).
    pub fn inbound(&self, service: &str) -> Result<SocketAddr, String> {
        self.envoy(service)?.listener("inbound")
    }

    /// The `outbound` listener of `service`'s sidecar (plaintext, for its application).
    pub fn outbound(&self, service: &str) -> Result<SocketAddr, String> {
        self.envoy(service)?.listener("outbound")
    }

    /// The Envoy of `workload` (`front`, `a`, `b` or `c`).
    pub fn envoy(&self, workload: &str) -> Result<&Envoy, String> {
        self.envoys
            .iter()
            .find(|(name, _)| *name == workload)
            .map(|(_, envoy)| envoy)
            .ok_or_else(|| format!("the mesh has no Envoy for {workload:?}"))
    }

    /// Every Envoy, in start order, with its workload name.
    pub fn envoys(&self) -> impl Iterator<Item = (&'static str, &Envoy)> {
        self.envoys.iter().map(|(name, envoy)| (*name, envoy))
    }

    /// The address of `service`'s application.
    pub fn app(&self, service: &str) -> Result<SocketAddr, String> {
        self.apps
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, app)| app.address())
            .ok_or_else(|| format!("the mesh has no application {service:?}"))
    }

    /// The mesh's temporary folder: certificates, rendered configurations, access log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder holding the CA and every workload's key and certificate.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// The access log every listener of every Envoy appends to.
    pub fn access_log_path(&self) -> PathBuf {
        self.dir.join("access.log")
    }

    /// The access log so far (Envoy flushes it every 50 ms).
    pub fn access_log(&self) -> String {
        std::fs::read(self.access_log_path())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Stops `service`'s application; its sidecar keeps running, and answers its callers
    /// 503 (`UF`, upstream connection failure) from then on: an outage, for the SLO tests.
    pub fn stop_app(&mut self, service: &str) -> Result<(), String> {
        let at = self
            .apps
            .iter()
            .position(|(name, _)| *name == service)
            .ok_or_else(|| format!("the mesh has no application {service:?}"))?;
        drop(self.apps.remove(at));
        Ok(())
    }

    /// The workload of the first Envoy found to have exited, if any.
    pub fn exited(&mut self) -> Option<&'static str> {
        self.envoys
            .iter_mut()
            .find_map(|(name, envoy)| envoy.has_exited().then_some(*name))
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        // The front proxy first, then each service before the services it calls.
        while let Some((_, envoy)) = self.envoys.pop() {
            drop(envoy);
        }
        self.apps.clear();
        if std::env::var(KEEP_ENV).is_ok_and(|v| v == "1") {
            eprintln!("mesh: kept {} ({KEEP_ENV}=1)", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A fresh folder for one mesh under the system's temporary folder.
fn create_dir() -> Result<PathBuf, String> {
    let run = NEXT_MESH.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wasmesh-mesh-{}-{run}", std::process::id()));
    // A folder left by an earlier process with the same pid is stale.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}
