//! A mesh application running on a thread of the orchestrator, stopped on drop.

use crate::app::App;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// An [`App`] serving on a bound listener until dropped.
#[derive(Debug)]
pub struct AppServer {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AppServer {
    /// Serves `app` on `listener` from a new thread.
    pub fn start(app: App, listener: TcpListener) -> Result<Self, String> {
        let address = listener
            .local_addr()
            .map_err(|e| format!("{}: no local address: {e}", app.name))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(format!("app-{}", app.name))
            .spawn(move || app.serve_until(listener, &stop_flag))
            .map_err(|e| format!("cannot start an application thread: {e}"))?;
        Ok(Self {
            address,
            stop,
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
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let woke = TcpStream::connect_timeout(&self.address, Duration::from_secs(1)).is_ok();
        if let Some(thread) = self.thread.take() {
            if woke {
                let _ = thread.join();
            }
        }
    }
}
