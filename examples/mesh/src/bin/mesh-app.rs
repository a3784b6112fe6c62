//! `mesh-app --name a --listen 127.0.0.1:8001 [--outbound 127.0.0.1:10011] [--call b:/api ...]`
//!
//! One service of the demo mesh on its own (docker-compose.yaml runs three): answers every
//! request with JSON describing what it received, after calling its dependencies through
//! its outbound sidecar with the trace headers copied from the request. A request to
//! `/call/<service>/<path>` makes that one call instead and answers with its status.

use std::process::ExitCode;

#[cfg(not(target_family = "wasm"))]
fn main() -> ExitCode {
    native::main()
}

/// The application runs on tokio: there is nothing to run on wasm32.
#[cfg(target_family = "wasm")]
fn main() -> ExitCode {
    ExitCode::FAILURE
}

/// The program proper.
#[cfg(not(target_family = "wasm"))]
mod native {
    use mesh::app::{App, Dependency};
    use std::net::TcpListener;
    use std::process::ExitCode;

    const USAGE: &str = "usage: mesh-app --name NAME --listen ADDR [--outbound ADDR] [--call SERVICE:[METHOD:]/PATH]...";

    fn parse() -> Result<(App, String), String> {
        let mut name = None;
        let mut listen = None;
        let mut outbound = None;
        let mut dependencies = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || {
                args.next()
                    .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
            };
            match flag.as_str() {
                "--name" => name = Some(value()?),
                "--listen" => listen = Some(value()?),
                "--outbound" => {
                    let addr = value()?;
                    outbound = Some(
                        addr.parse()
                            .map_err(|_| format!("--outbound: `{addr}` is not ip:port"))?,
                    );
                }
                "--call" => dependencies.push(Dependency::parse(&value()?)?),
                "-h" | "--help" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
            }
        }
        let name = name.ok_or_else(|| format!("--name is required\n{USAGE}"))?;
        let listen = listen.ok_or_else(|| format!("--listen is required\n{USAGE}"))?;
        Ok((
            App {
                name,
                outbound,
                dependencies,
            },
            listen,
        ))
    }

    pub(crate) fn main() -> ExitCode {
        let (app, listen) = match parse() {
            Ok(parsed) => parsed,
            Err(message) => {
                eprintln!("{message}");
                return ExitCode::from(2);
            }
        };
        let listener = match TcpListener::bind(&listen) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("mesh-app {}: cannot listen on {listen}: {e}", app.name);
                return ExitCode::FAILURE;
            }
        };
        println!("mesh-app {} listening on {listen}", app.name);
        let name = app.name.clone();
        match app.serve(listener) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("mesh-app {name}: {error}");
                ExitCode::FAILURE
            }
        }
    }
}
