//! The command line: options, `--help`, and the exit codes.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::{server, snapshot};

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
wasmesh-cp: delivers wasmesh filters to Envoy over ECDS (ADS, state of the world).

USAGE:
    wasmesh-cp --config FILE [--grpc ADDR] [--status ADDR] [--port-file FILE] [--poll-ms N]
    wasmesh-cp --check --config FILE
    wasmesh-cp --help | --version

OPTIONS:
    --config FILE      the declarative file (JSON): filters, versions, rollouts
    --grpc ADDR        where Envoy's ADS connects [default: 127.0.0.1:18000]
    --status ADDR      the HTTP status endpoint, GET /status [default: 127.0.0.1:18001]
    --port-file FILE   write {\"grpc\": ADDR, \"status\": ADDR} here once both listen
                       (useful with port 0)
    --poll-ms N        how often to look for changed files [default: 500]
    --check            load and check the declarative file and its modules, print
                       the result, and exit (0: every version can be sent)
    --help             this text
    --version          the version

The declarative file and every .wasm it names are reloaded when they change
(replace them by atomic rename). A filter's `canary` rolls a version out in
stages, each widened only once every node reached so far ACKed it; a NACK or
a stage not ACKed in time halts it and sends every node `serve` again.
SIGINT or SIGTERM stops the server cleanly.

EXIT STATUS:
    0 stopped cleanly (or --check passed), 1 a version failed --check or a
    listener could not be opened, 2 bad command line or declarative file.
";

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The declarative file.
    pub config: PathBuf,
    /// The ADS (gRPC) listen address.
    pub grpc: SocketAddr,
    /// The status endpoint's listen address.
    pub status: SocketAddr,
    /// Where to write the bound addresses.
    pub port_file: Option<PathBuf>,
    /// The file polling interval.
    pub poll: Duration,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Serve.
    Serve(Options),
    /// Check the declarative file and exit.
    Check(PathBuf),
    /// Print the usage.
    Help,
    /// Print the version.
    Version,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut config = None;
    let mut grpc = SocketAddr::from(([127, 0, 0, 1], 18000));
    let mut status = SocketAddr::from(([127, 0, 0, 1], 18001));
    let mut port_file = None;
    let mut poll = Duration::from_millis(500);
    let mut check = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not UTF-8"))?;
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = || -> Result<String, String> {
            match inline_value.clone() {
                Some(value) => Ok(value),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value")),
            }
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--check" => check = true,
            "--config" => config = Some(PathBuf::from(value()?)),
            "--grpc" => grpc = parse_addr("--grpc", &value()?)?,
            "--status" => status = parse_addr("--status", &value()?)?,
            "--port-file" => port_file = Some(PathBuf::from(value()?)),
            "--poll-ms" => {
                let text = value()?;
                let ms: u64 = text
                    .parse()
                    .ok()
                    .filter(|ms| (10..=60_000).contains(ms))
                    .ok_or_else(|| {
                        format!("--poll-ms: {text:?} is not a number from 10 to 60000")
                    })?;
                poll = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let config = config.ok_or_else(|| "--config FILE is required".to_string())?;
    if check {
        return Ok(Command::Check(config));
    }
    Ok(Command::Serve(Options {
        config,
        grpc,
        status,
        port_file,
        poll,
    }))
}

fn parse_addr(option: &str, text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("{option}: {text:?} is not an IP address and port, e.g. 127.0.0.1:18000")
    })
}

/// Runs the program with the process's arguments; returns the exit code.
pub fn main() -> ExitCode {
    match parse(std::env::args_os().skip(1)) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("wasmesh-cp {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Check(path)) => check(&path),
        Ok(Command::Serve(options)) => server::run(&options),
        Err(message) => {
            eprintln!("wasmesh-cp: {message}\nRun `wasmesh-cp --help` for the options.");
            ExitCode::from(2)
        }
    }
}

/// `--check`: prints each version's checks; exit 0 only if all pass.
fn check(path: &std::path::Path) -> ExitCode {
    let snapshot = match snapshot::load(path, 1) {
        Ok(snapshot) => snapshot,
        Err(message) => {
            eprintln!("wasmesh-cp: bad declarative file: {message}");
            return ExitCode::from(2);
        }
    };
    let mut all_valid = true;
    for filter in &snapshot.filters {
        if let Some(canary) = &filter.spec.canary {
            let stages: Vec<String> = canary.stages.iter().map(|s| s.describe()).collect();
            println!(
                "canary   {} {} (from {}) in stages: {}; ack_timeout {} s, hold {} s",
                filter.spec.name,
                canary.version,
                filter.spec.serve,
                stages.join(" | "),
                canary.ack_timeout.as_secs_f64(),
                canary.hold.as_secs_f64()
            );
        }
        for version in &filter.versions {
            match &version.outcome {
                Ok(resource) => println!(
                    "ok       {} {} ({} bytes, fingerprint {})",
                    filter.spec.name,
                    version.spec.label,
                    version.wasm_bytes.unwrap_or(0),
                    resource.fingerprint
                ),
                Err(reason) => {
                    all_valid = false;
                    println!(
                        "INVALID  {} {}: {reason}",
                        filter.spec.name, version.spec.label
                    );
                }
            }
        }
    }
    println!(
        "Checked: JSON, a valid wasm module (sections, types, code), proxy-wasm entry point. \
         Only Envoy can check its imports and whether the filter accepts its configuration."
    );
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn serve_with_defaults_and_overrides() {
        let Command::Serve(options) = parse(args(&["--config", "cp.json"])).unwrap() else {
            panic!("not serve")
        };
        assert_eq!(options.grpc.to_string(), "127.0.0.1:18000");
        assert_eq!(options.status.to_string(), "127.0.0.1:18001");
        assert_eq!(options.poll, Duration::from_millis(500));
        let Command::Serve(options) = parse(args(&[
            "--config=cp.json",
            "--grpc",
            "127.0.0.1:0",
            "--status=127.0.0.1:0",
            "--port-file",
            "ports.json",
            "--poll-ms",
            "50",
        ]))
        .unwrap() else {
            panic!("not serve")
        };
        assert_eq!(options.config, PathBuf::from("cp.json"));
        assert_eq!(options.grpc.port(), 0);
        assert_eq!(options.port_file, Some(PathBuf::from("ports.json")));
        assert_eq!(options.poll, Duration::from_millis(50));
    }

    #[test]
    fn help_version_check() {
        assert_eq!(parse(args(&["--help"])).unwrap(), Command::Help);
        assert_eq!(
            parse(args(&["--config", "x", "-V"])).unwrap(),
            Command::Version
        );
        assert_eq!(
            parse(args(&["--check", "--config", "x"])).unwrap(),
            Command::Check(PathBuf::from("x"))
        );
    }

    #[test]
    fn errors_are_clear() {
        assert_eq!(parse(args(&[])).unwrap_err(), "--config FILE is required");
        assert_eq!(
            parse(args(&["--config"])).unwrap_err(),
            "--config needs a value"
        );
        assert!(parse(args(&["--config", "x", "--grpc", "localhost"]))
            .unwrap_err()
            .contains("not an IP address and port"));
        assert!(parse(args(&["--config", "x", "--poll-ms", "0"]))
            .unwrap_err()
            .contains("from 10 to 60000"));
        assert_eq!(
            parse(args(&["--verbose"])).unwrap_err(),
            "unknown argument \"--verbose\""
        );
    }
}
