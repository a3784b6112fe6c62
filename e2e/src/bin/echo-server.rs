//! The test echo application as a program, for trying configurations by hand
//! (`make run-hello` puts it behind Envoy):
//!
//! ```text
//! cargo run -p wasmesh-e2e --bin echo-server -- 8000
//! ```
//!
//! Listens on `127.0.0.1:<port>` (default 8000) until stopped (Ctrl-C), answers
//! every request with a JSON description of what it received (see
//! [`wasmesh_e2e::EchoResponse::echo`]) and prints one line per request.

use std::process::ExitCode;

use wasmesh_e2e::{EchoResponse, EchoServer};

/// The port used when none is given: the application port of the example configs.
const DEFAULT_PORT: u16 = 8000;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let port = match (args.next(), args.next()) {
        (None, _) => DEFAULT_PORT,
        (Some(port), None) => match port.parse::<u16>() {
            Ok(port) => port,
            Err(_) => return usage(&format!("not a port number: {port:?}")),
        },
        (Some(_), Some(_)) => return usage("too many arguments"),
    };
    let server = match EchoServer::start_on(port, |request| {
        match request.header("x-hello") {
            Some(greeting) => println!(
                "echo-server: {} {} (x-hello: {greeting})",
                request.method, request.path
            ),
            None => println!("echo-server: {} {}", request.method, request.path),
        }
        EchoResponse::echo(request)
    }) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("echo-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "echo-server: listening on http://{} (Ctrl-C stops it)",
        server.addr()
    );
    // Serve on the server's threads until the process is stopped by a signal.
    loop {
        std::thread::park();
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("echo-server: {problem}\nusage: echo-server [PORT]   (default {DEFAULT_PORT})");
    ExitCode::from(2)
}
