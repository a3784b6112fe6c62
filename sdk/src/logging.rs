//! Routes the `log` crate to the host's logger, at the host's level.

use crate::host;
use proxy_wasm::types::LogLevel;

struct HostLogger;

static LOGGER: HostLogger = HostLogger;

impl log::Log for HostLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        host::log(level, &record.args().to_string());
    }

    fn flush(&self) {}
}

/// Installs the host logger (once per process; later calls do nothing) and, inside Envoy,
/// a panic hook that logs the panic at `critical` before the module aborts.
pub(crate) fn install() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| {
            host::log(LogLevel::Critical, &info.to_string());
        }));
    }
}

/// Skips formatting of lines the host would drop anyway.
pub(crate) fn follow_host_level() {
    let filter = match host::log_level() {
        Some(LogLevel::Trace) | None => log::LevelFilter::Trace,
        Some(LogLevel::Debug) => log::LevelFilter::Debug,
        Some(LogLevel::Info) => log::LevelFilter::Info,
        Some(LogLevel::Warn) => log::LevelFilter::Warn,
        Some(LogLevel::Error) => log::LevelFilter::Error,
        Some(LogLevel::Critical) => log::LevelFilter::Off,
    };
    log::set_max_level(filter);
}
