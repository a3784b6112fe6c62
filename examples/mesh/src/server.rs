//! A mesh application running on a thread of the orchestrator, stopped on drop.

use crate::app::{self, App};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a stopping application waits for its runtime to wind down.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// An [`App`] serving on a bound listener, on a thread and runtime of its own, until
/// dropped.
#[derive(Debug)]
pub struct AppServer {
    address: SocketAddr,
    /// Dropped to stop the application.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl AppServer {
    /// Serves `app` on `listener` from a new thread.
    pub fn start(app: App, listener: TcpListener) -> Result<Self, String> {
        let address = listener
            .local_addr()
            .map_err(|e| format!("{}: no local address: {e}", app.name))?;
        let runtime = app::runtime(&app.name)?;
        let listener = {
            let _context = runtime.enter();
            app::async_listener(&app.name, listener)?
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("app-{}", app.name))
            .spawn(move || {
                runtime.block_on(app.serve_until(listener, async {
                    // Sent or dropped: either way, stop.
                    let _ = stopped.await;
                }));
                // Closes the connections still open.
                runtime.shutdown_timeout(STOP_GRACE);
            })
            .map_err(|e| format!("cannot start an application thread: {e}"))?;
        Ok(Self {
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where the application listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
