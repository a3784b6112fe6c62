//! Child processes that cannot outlive the test process.
//!
//! On Linux, children get `PR_SET_PDEATHSIG = SIGKILL`, so the kernel kills them when
//! their parent goes away, even if the test process is killed and no `Drop`
//! runs. Linux delivers that signal when the *thread* that forked the child
//! exits, so every child is forked by one long-lived spawner thread rather
//! than by the (short-lived) test thread that asked for it.

use std::io;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type SpawnJob = (Command, Sender<io::Result<Child>>);

/// The channel to the spawner thread, started on first use.
fn spawner() -> io::Result<Sender<SpawnJob>> {
    static SPAWNER: OnceLock<Mutex<Option<Sender<SpawnJob>>>> = OnceLock::new();
    let slot = SPAWNER.get_or_init(|| Mutex::new(None));
    let mut sender = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(existing) = sender.as_ref() {
        return Ok(existing.clone());
    }
    let (job_sender, jobs) = mpsc::channel::<SpawnJob>();
    std::thread::Builder::new()
        .name("child-spawner".to_string())
        .spawn(move || {
            for (mut command, reply) in jobs {
                let _ = reply.send(command.spawn());
            }
        })?;
    *sender = Some(job_sender.clone());
    Ok(job_sender)
}

/// Spawns `command` so that the child is killed when the test process dies
/// (on Linux; elsewhere only its owner stops it, as [`crate::Envoy`] does on drop).
pub(crate) fn spawn_tied_to_process(command: Command) -> io::Result<Child> {
    #[cfg(target_os = "linux")]
    let command = kill_with_parent(command);
    let (reply, result) = mpsc::channel();
    spawner()?
        .send((command, reply))
        .map_err(|_| io::Error::other("child spawner thread is gone"))?;
    result
        .recv()
        .map_err(|_| io::Error::other("child spawner thread did not answer"))?
}

/// Makes the kernel send SIGKILL to the child when the thread that forked it exits.
#[cfg(target_os = "linux")]
fn kill_with_parent(mut command: Command) -> Command {
    use std::os::unix::process::CommandExt;
    let parent_pid = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls (prctl, getppid); it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if u32::try_from(libc::getppid()).ok() != Some(parent_pid) {
                return Err(io::Error::other("parent exited before the child started"));
            }
            Ok(())
        });
    }
    command
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running.
pub(crate) fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// Kills `child` with SIGKILL (if still running) and reaps it.
pub(crate) fn kill_and_reap(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    let _ = child.kill();
    child.wait().ok()
}

/// Stops `child`: SIGTERM, then up to `timeout` for it to exit, then SIGKILL; reaps it.
pub(crate) fn terminate(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with the pid of our own unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    wait_with_timeout(child, timeout).or_else(|| kill_and_reap(child))
}

/// Whether a process with `pid` exists (a zombie counts as existing).
pub fn process_exists(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}
