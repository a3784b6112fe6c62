//! Reloads the declarative file when it or a module it names changes, by
//! polling each file's modification time, size and inode.
//!
//! A reload that fails (a bad declarative file) keeps the previous snapshot
//! serving and is reported in the log and the status; the next change is
//! tried again. Write files by atomic rename so a reload never reads half a
//! file (a change is also re-read until the stamps hold still for one settle
//! interval).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::log;
use crate::snapshot::{self, Snapshot};
use crate::status::ReloadStatus;

/// How long stamps must hold still before a reload reads the files.
const SETTLE: Duration = Duration::from_millis(100);

/// What identifies a file's content for change detection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

/// Each file's stamp, `None` for a file that cannot be read.
fn stamps(files: &[PathBuf]) -> Vec<Option<FileStamp>> {
    files
        .iter()
        .map(|file| {
            std::fs::metadata(file).ok().map(|meta| FileStamp {
                modified: meta.modified().ok(),
                len: meta.len(),
                inode: meta.ino(),
            })
        })
        .collect()
}

/// Polls the files of the snapshot in `sender` every `interval` and publishes
/// a new snapshot after each change, until `shutdown` becomes true.
pub async fn run(
    path: PathBuf,
    interval: Duration,
    sender: watch::Sender<Arc<Snapshot>>,
    reload: Arc<ReloadStatus>,
    mut shutdown: watch::Receiver<bool>,
) {
    let current = Arc::clone(&sender.borrow());
    let mut generation = current.generation;
    let mut files = current.watched_files();
    let mut last = stamps(&files);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        let mut now = stamps(&files);
        if now == last {
            continue;
        }
        loop {
            tokio::time::sleep(SETTLE).await;
            let settled = stamps(&files);
            if settled == now {
                break;
            }
            now = settled;
        }
        last = now;
        let next = generation + 1;
        let load_path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || snapshot::load(&load_path, next))
            .await
            .unwrap_or_else(|error| Err(format!("reload task failed: {error}")));
        match loaded {
            Ok(snapshot) => {
                generation = next;
                files = snapshot.watched_files();
                last = stamps(&files);
                reload.succeeded();
                log_loaded(&snapshot, "reloaded");
                sender.send_replace(Arc::new(snapshot));
            }
            Err(message) => {
                reload.failed(&message);
                log::warn(&format!(
                    "reload refused, still serving generation {generation}: {message}"
                ));
            }
        }
    }
}

/// Logs what a snapshot serves, and each version that failed the checks.
pub fn log_loaded(snapshot: &Snapshot, verb: &str) {
    let filters: Vec<String> = snapshot
        .filters
        .iter()
        .map(|f| {
            let mut rollouts: Vec<String> = f
                .spec
                .rollouts
                .iter()
                .map(|r| format!("{} to {}", r.version, r.selector.describe()))
                .collect();
            if let Some(canary) = &f.spec.canary {
                let stages: Vec<String> = canary.stages.iter().map(|s| s.describe()).collect();
                rollouts.push(format!(
                    "canary {} in stages: {}",
                    canary.version,
                    stages.join(" | ")
                ));
            }
            if rollouts.is_empty() {
                format!("{} serves {}", f.spec.name, f.spec.serve)
            } else {
                format!(
                    "{} serves {} ({})",
                    f.spec.name,
                    f.spec.serve,
                    rollouts.join(", ")
                )
            }
        })
        .collect();
    log::info(&format!(
        "{verb} {} (generation {}): {}",
        display(&snapshot.path),
        snapshot.generation,
        if filters.is_empty() {
            "no filters".to_string()
        } else {
            filters.join("; ")
        }
    ));
    for (filter, version, reason) in snapshot.invalid_versions() {
        log::warn(&format!(
            "{filter} {version} failed the checks and will not be sent: {reason}"
        ));
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn stamps_change_with_content_and_rename() {
        let dir = std::env::temp_dir().join(format!("wasmesh-cp-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.json");
        let files = vec![file.clone(), dir.join("missing")];
        std::fs::write(&file, "one").unwrap();
        let first = stamps(&files);
        assert!(first[0].is_some());
        assert!(first[1].is_none());
        assert_eq!(stamps(&files), first);
        let replacement = dir.join("b.json");
        std::fs::write(&replacement, "two").unwrap();
        std::fs::rename(&replacement, &file).unwrap();
        assert_ne!(stamps(&files), first);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
