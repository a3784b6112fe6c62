//! Runs the control plane: loads the declarative file, opens the ADS and
//! status listeners, watches the files, and stops cleanly on SIGINT/SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::ads::AdsService;
use crate::canary::{self, Controller};
use crate::cli::Options;
use crate::http_status::{self, StatusSources};
use crate::registry::Registry;
use crate::status::ReloadStatus;
use crate::{log, snapshot, watcher};

/// How long open streams get to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// HTTP/2 keepalive pings on ADS connections, so a vanished node is noticed.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Serves until a stop signal; the exit code follows [`crate::cli::USAGE`].
pub fn run(options: &Options) -> ExitCode {
    let initial = match snapshot::load(&options.config, 1) {
        Ok(snapshot) => snapshot,
        Err(message) => {
            log::error(&format!("bad declarative file: {message}"));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            log::error(&format!("cannot start the async runtime: {error}"));
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(options, initial)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error(&message);
            ExitCode::from(1)
        }
    }
}

async fn serve(options: &Options, initial: snapshot::Snapshot) -> Result<(), String> {
    let grpc = TcpListener::bind(options.grpc)
        .await
        .map_err(|e| format!("cannot listen for ADS on {}: {e}", options.grpc))?;
    let status = TcpListener::bind(options.status)
        .await
        .map_err(|e| format!("cannot listen for status on {}: {e}", options.status))?;
    let grpc_addr = grpc
        .local_addr()
        .map_err(|e| format!("ADS listener address: {e}"))?;
    let status_addr = status
        .local_addr()
        .map_err(|e| format!("status listener address: {e}"))?;
    if let Some(port_file) = &options.port_file {
        write_port_file(port_file, &grpc_addr.to_string(), &status_addr.to_string())?;
    }
    watcher::log_loaded(&initial, "loaded");
    log::info(&format!(
        "listening: ADS (gRPC) on {grpc_addr}, status on http://{status_addr}/status"
    ));

    let initial = Arc::new(initial);
    // The watcher publishes what the file says; the canary task adds how far
    // each canary got and publishes what the ADS streams serve.
    let (loaded_sender, loaded) = watch::channel(Arc::clone(&initial));
    let (snapshot_sender, snapshots) = watch::channel(initial);
    let (shutdown_sender, shutdown) = watch::channel(false);
    let registry = Arc::new(Registry::new());
    let reload = Arc::new(ReloadStatus::new());
    let canaries = Arc::new(Mutex::new(Controller::new()));

    let watcher = tokio::spawn(watcher::run(
        options.config.clone(),
        options.poll,
        loaded_sender,
        Arc::clone(&reload),
        shutdown.clone(),
    ));
    let canary_task = tokio::spawn(canary::run(
        loaded,
        snapshot_sender,
        Arc::clone(&registry),
        Arc::clone(&canaries),
        shutdown.clone(),
    ));
    let status_server = tokio::spawn(http_status::serve(
        status,
        StatusSources {
            snapshots: snapshots.clone(),
            reload,
            registry: Arc::clone(&registry),
            canaries,
        },
        shutdown.clone(),
    ));
    let ads = AdsService::new(snapshots, registry, shutdown.clone());
    let mut stopped = shutdown.clone();
    let grpc_server = tokio::spawn(
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(KEEPALIVE))
            .add_service(AggregatedDiscoveryServiceServer::new(ads))
            .serve_with_incoming_shutdown(TcpListenerStream::new(grpc), async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }),
    );

    let signal = stop_signal().await?;
    log::info(&format!("{signal}: stopping"));
    let _ = shutdown_sender.send(true);
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        let served = grpc_server.await;
        let _ = watcher.await;
        let _ = canary_task.await;
        let _ = status_server.await;
        served
    })
    .await;
    match finished {
        Ok(Ok(Ok(()))) => log::info("stopped"),
        Ok(Ok(Err(error))) => log::warn(&format!("ADS server ended with an error: {error}")),
        Ok(Err(error)) => log::warn(&format!("ADS server task failed: {error}")),
        Err(_) => log::warn(&format!(
            "streams still open after {} s; stopping anyway",
            SHUTDOWN_GRACE.as_secs()
        )),
    }
    Ok(())
}

/// Waits for SIGINT or SIGTERM; returns its name.
async fn stop_signal() -> Result<&'static str, String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    tokio::select! {
        _ = terminate.recv() => Ok("SIGTERM"),
        _ = interrupt.recv() => Ok("SIGINT"),
    }
}

/// Writes `{"grpc": "...", "status": "..."}` to `path` by atomic rename.
fn write_port_file(path: &Path, grpc: &str, status: &str) -> Result<(), String> {
    let text = serde_json::json!({"grpc": grpc, "status": status}).to_string() + "\n";
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot write the port file {}: {e}", path.display()))
}
