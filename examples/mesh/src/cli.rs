//! The `mesh` command: `make run` in the foreground, and the certificates for
//! docker-compose.yaml.

use crate::guide::{self, Addresses};
use crate::mesh::{Mesh, Ports};
use crate::{certs, prometheus, topology};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How to call the command.
pub const USAGE: &str = "\
usage: mesh [--prometheus]
                        start the demo mesh on its fixed ports, print the guide and follow
                        the access log until Ctrl-C (what `make run` runs); with
                        --prometheus also Prometheus on 127.0.0.1:10090, scraping every
                        sidecar with the SLO rules of deploy/prometheus (`make run PROMETHEUS=1`)
       mesh certs DIR   write the demo CA and every workload's key and certificate into DIR";

/// How often `make run PROMETHEUS=1` scrapes the sidecars and evaluates the rules.
const SCRAPE_INTERVAL: Duration = Duration::from_secs(5);

/// Lines of an Envoy's log quoted when it exits unexpectedly.
const LOG_TAIL_LINES: usize = 20;

/// Set by SIGINT and SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Runs the command with the process's arguments.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        [] => run(false),
        ["--prometheus"] => run(true),
        ["certs", dir] => write_certs(Path::new(dir)),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unexpected arguments {args:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mesh: {error}");
            ExitCode::FAILURE
        }
    }
}

fn write_certs(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    certs::generate(dir, &topology::workloads())?;
    println!(
        "mesh: wrote ca.crt and a key and certificate for each of {} into {}",
        topology::workloads().join(", "),
        dir.display()
    );
    Ok(())
}

/// Starts the mesh on its fixed ports (and Prometheus, with `with_prometheus`) and runs
/// until Ctrl-C or until an Envoy or Prometheus exits.
fn run(with_prometheus: bool) -> Result<(), String> {
    check_ports_are_free(with_prometheus)?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let handler = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
    eprintln!("mesh: starting: certificates, then c, b, a (application and sidecar), then front");
    let mut mesh = match Mesh::start(Ports::Fixed) {
        Ok(mesh) => mesh,
        // Ctrl-C during start-up also reached the Envoys, which then exit.
        Err(_) if STOP.load(Ordering::SeqCst) => {
            eprintln!("mesh: stopped during start-up");
            return Ok(());
        }
        Err(error) => return Err(error),
    };
    let mut server = None;
    if with_prometheus {
        eprintln!("mesh: starting Prometheus");
        match prometheus::start(&mesh, Ports::Fixed, SCRAPE_INTERVAL) {
            Ok(started) => server = Some(started),
            Err(_) if STOP.load(Ordering::SeqCst) => return Ok(()),
            Err(error) => return Err(error),
        }
    }
    let mut addresses = Addresses::of(&mesh)?;
    addresses.prometheus = server.as_ref().map(wasmesh_e2e::Prometheus::address);
    print!("{}", guide::text(&addresses));
    let _ = std::io::stdout().flush();
    let mut access_log = LogFollower::new(mesh.access_log_path());
    let outcome = loop {
        if STOP.load(Ordering::SeqCst) {
            break Ok(());
        }
        if let Some(workload) = mesh.exited() {
            let log = mesh.envoy(workload).map(|e| e.log()).unwrap_or_default();
            break Err(format!(
                "{workload}'s Envoy exited; the end of its log:\n{}",
                tail(&log, LOG_TAIL_LINES)
            ));
        }
        if server
            .as_mut()
            .is_some_and(wasmesh_e2e::Prometheus::has_exited)
        {
            let log = server.as_ref().map(|s| s.log()).unwrap_or_default();
            break Err(format!(
                "Prometheus exited; the end of its log:\n{}",
                tail(&log, LOG_TAIL_LINES)
            ));
        }
        let lines = access_log.poll();
        if !lines.is_empty() {
            let mut stdout = std::io::stdout().lock();
            for line in lines {
                let _ = writeln!(stdout, "{line}");
            }
            let _ = stdout.flush();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("mesh: stopping");
    drop(server);
    drop(mesh);
    outcome
}

/// Fails with a clear message when one of the mesh's fixed ports (or Prometheus' port,
/// `with_prometheus`) is taken.
fn check_ports_are_free(with_prometheus: bool) -> Result<(), String> {
    let mut ports = topology::fixed_ports();
    if with_prometheus {
        ports.push(("prometheus", "web interface", prometheus::PROMETHEUS_PORT));
    }
    for (workload, what, port) in ports {
        if TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).is_err() {
            return Err(format!(
                "port {port} ({workload}'s {what}) is in use on 127.0.0.1: stop whatever listens \
                 there first (another `make run`, or the docker compose mesh?)"
            ));
        }
    }
    Ok(())
}

/// Reads the lines appended to a file since the last call.
#[derive(Debug)]
struct LogFollower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl LogFollower {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The complete lines written since the last call.
    fn poll(&mut self) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let mut bytes = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut bytes).is_err()
        {
            return Vec::new();
        }
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') else {
            return Vec::new();
        };
        let rest = self.partial.split_off(end + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        String::from_utf8_lossy(&complete)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all.get(all.len().saturating_sub(lines)..)
        .unwrap_or_default()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_follower_returns_complete_lines_once() {
        let path = std::env::temp_dir().join(format!("wasmesh-mesh-follow-{}", std::process::id()));
        std::fs::write(&path, "one\ntw").unwrap();
        let mut follower = LogFollower::new(path.clone());
        assert_eq!(follower.poll(), ["one"]);
        assert!(follower.poll().is_empty());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"o\nthree\n").unwrap();
        assert_eq!(follower.poll(), ["two", "three"]);
        std::fs::remove_file(&path).unwrap();
        assert!(follower.poll().is_empty());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
