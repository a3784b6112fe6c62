//! Thin, non-panicking bindings to the proxy-wasm host functions the SDK uses.
//!
//! The `proxy-wasm` crate's own wrappers panic on statuses they do not expect and
//! unwrap header values as UTF-8; a filter facing hostile traffic must do neither.
//! These bindings link to the same `env.proxy_*` imports, return `Option`/`Result`,
//! and work on bytes. Buffers the host hands back are allocated by the guest's
//! `proxy_on_memory_allocate` and are taken over here.

use crate::headers::HeaderMap;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType};
use std::ptr::{null, null_mut};

/// A status as the host returns it. Declared as the raw integer, not an enum: Envoy may
/// return codes a Rust enum does not list, and reading those into one is undefined
/// behaviour.
type RawStatus = u32;

/// The status of a call that succeeded.
const OK: RawStatus = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> RawStatus;
    fn proxy_get_log_level(return_level: *mut u32) -> RawStatus;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> RawStatus;
    fn proxy_set_tick_period_milliseconds(period: u32) -> RawStatus;
    fn proxy_get_buffer_bytes(
        buffer_type: BufferType,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> RawStatus;
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> RawStatus;
    fn proxy_remove_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
    ) -> RawStatus;
    fn proxy_replace_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> RawStatus;
    fn proxy_add_header_map_value(
        map_type: MapType,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> RawStatus;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> RawStatus;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> RawStatus;
    fn proxy_define_metric(
        metric_type: MetricType,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> RawStatus;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> RawStatus;
    fn proxy_record_metric(metric_id: u32, value: u64) -> RawStatus;
    fn proxy_get_metric(metric_id: u32, return_value: *mut u64) -> RawStatus;
    fn proxy_call_foreign_function(
        function_name_data: *const u8,
        function_name_size: usize,
        arguments_data: *const u8,
        arguments_size: usize,
        return_results_data: *mut *mut u8,
        return_results_size: *mut usize,
    ) -> RawStatus;
}

/// Takes ownership of a buffer the host allocated through `proxy_on_memory_allocate`.
///
/// # Safety
/// `data` must be null or point to `size` bytes allocated by the guest allocator as a
/// boxed slice of exactly `size` bytes, as `proxy_on_memory_allocate` does.
unsafe fn take_host_buffer(data: *mut u8, size: usize) -> Vec<u8> {
    if data.is_null() {
        Vec::new()
    } else {
        Vec::from_raw_parts(data, size, size)
    }
}

/// Writes one line to the host log at `level`.
pub fn log(level: LogLevel, message: &str) {
    // SAFETY: pointer and length come from a live &str.
    unsafe {
        proxy_log(level as u32, message.as_ptr(), message.len());
    }
}

/// The host's current log level, if it reports one.
pub fn log_level() -> Option<LogLevel> {
    let mut level = u32::MAX;
    // SAFETY: the host writes one u32 through the pointer.
    if unsafe { proxy_get_log_level(&mut level) } != OK {
        return None;
    }
    Some(match level {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        4 => LogLevel::Error,
        _ => LogLevel::Critical,
    })
}

/// Asks the host to call the root context's `on_tick` every `millis` milliseconds.
pub fn set_tick_period(millis: u32) -> bool {
    // SAFETY: a plain value.
    unsafe { proxy_set_tick_period_milliseconds(millis) == OK }
}

/// The host's wall-clock time in nanoseconds since the Unix epoch (0 if unavailable).
pub fn now_nanos() -> u64 {
    let mut nanos = 0u64;
    // SAFETY: the host writes one u64 through the pointer.
    match unsafe { proxy_get_current_time_nanoseconds(&mut nanos) } {
        OK => nanos,
        _ => 0,
    }
}

/// Reads up to `max_size` bytes of a host buffer (plugin configuration, body, ...).
pub fn buffer(buffer_type: BufferType, start: usize, max_size: usize) -> Option<Vec<u8>> {
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: on Ok the host returned a guest-allocated buffer of `size` bytes.
    unsafe {
        match proxy_get_buffer_bytes(buffer_type, start, max_size, &mut data, &mut size) {
            OK => Some(take_host_buffer(data, size)),
            _ => None,
        }
    }
}

/// All header pairs of a map, in order, repeated names kept, values as raw bytes.
/// Returns an empty map when the map is not available in the current callback.
pub fn header_map(map: MapType) -> HeaderMap {
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: on Ok the host returned a guest-allocated buffer of `size` bytes.
    let serialized = unsafe {
        match proxy_get_header_map_pairs(map, &mut data, &mut size) {
            OK => take_host_buffer(data, size),
            _ => return HeaderMap::default(),
        }
    };
    HeaderMap::from_wire(serialized).unwrap_or_default()
}

/// Removes every value of a header. Returns false if the host refused.
pub fn remove_header(map: MapType, name: &str) -> bool {
    // SAFETY: pointer and length come from a live &str.
    unsafe { proxy_remove_header_map_value(map, name.as_ptr(), name.len()) == OK }
}

/// Replaces every value of a header with one value (adds it when absent).
pub fn replace_header(map: MapType, name: &str, value: &[u8]) -> bool {
    // SAFETY: pointers and lengths come from live slices.
    unsafe {
        proxy_replace_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len())
            == OK
    }
}

/// Appends one more value of a header.
pub fn add_header(map: MapType, name: &str, value: &[u8]) -> bool {
    // SAFETY: pointers and lengths come from live slices.
    unsafe {
        proxy_add_header_map_value(map, name.as_ptr(), name.len(), value.as_ptr(), value.len())
            == OK
    }
}

/// Reads a host property by path segments (e.g. `["connection", "mtls"]`), as raw bytes.
pub fn property(path: &[&str]) -> Option<Vec<u8>> {
    property_at(&crate::wire::encode_property_path(path))
}

/// Reads a host property by its path already encoded (see
/// [`crate::wire::encode_property_path`]).
pub fn property_at(serialized: &[u8]) -> Option<Vec<u8>> {
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: on Ok the host returned a guest-allocated buffer of `size` bytes (or null).
    unsafe {
        match proxy_get_property(serialized.as_ptr(), serialized.len(), &mut data, &mut size) {
            OK if !data.is_null() => Some(take_host_buffer(data, size)),
            _ => None,
        }
    }
}

/// Calls one of the host's foreign functions (Envoy: `expr_create`, `expr_evaluate`, ...)
/// with `argument`; its result bytes, or `None` when the host refused or has no such
/// function.
pub fn foreign_function(name: &str, argument: &[u8]) -> Option<Vec<u8>> {
    let mut data = null_mut();
    let mut size = 0usize;
    // SAFETY: pointers and lengths come from live slices; on Ok the host returned a
    // guest-allocated buffer of `size` bytes (or null).
    unsafe {
        match proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            argument.as_ptr(),
            argument.len(),
            &mut data,
            &mut size,
        ) {
            OK => Some(take_host_buffer(data, size)),
            _ => None,
        }
    }
}

/// Sends a local reply instead of forwarding the request.
pub fn send_local_response(status: u32, details: &str, body: &[u8], headers: &[u8]) -> bool {
    // SAFETY: pointers and lengths come from live slices.
    unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            if body.is_empty() {
                null()
            } else {
                body.as_ptr()
            },
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        ) == OK
    }
}

/// Defines (or looks up) a metric by its full stat name.
pub fn define_metric(metric_type: MetricType, name: &str) -> Option<u32> {
    let mut id = 0u32;
    // SAFETY: pointer and length come from a live &str; the host writes one u32.
    match unsafe { proxy_define_metric(metric_type, name.as_ptr(), name.len(), &mut id) } {
        OK => Some(id),
        _ => None,
    }
}

/// Adds `offset` to a counter or gauge.
pub fn increment_metric(id: u32, offset: i64) {
    // SAFETY: plain values.
    unsafe {
        proxy_increment_metric(id, offset);
    }
}

/// Sets a gauge, or records one histogram sample.
pub fn record_metric(id: u32, value: u64) {
    // SAFETY: plain values.
    unsafe {
        proxy_record_metric(id, value);
    }
}

/// Reads a counter or gauge.
pub fn metric_value(id: u32) -> Option<u64> {
    let mut value = 0u64;
    // SAFETY: the host writes one u64.
    match unsafe { proxy_get_metric(id, &mut value) } {
        OK => Some(value),
        _ => None,
    }
}

// Natively (tests) the host emulator, `wasmesh-testing`, defines the same function.
#[cfg(any(target_os = "wasi", not(target_arch = "wasm32")))]
#[cfg_attr(
    target_arch = "wasm32",
    link(wasm_import_module = "wasi_snapshot_preview1")
)]
extern "C" {
    fn random_get(buf: *mut u8, buf_len: usize) -> u16;
}

/// Fills `buf` with random bytes from the host (WASI `random_get`, which Envoy backs with
/// its own random generator; the emulator's seeded generator in native tests). A host
/// call of about 5 000 instructions in Envoy: per-request randomness comes from
/// [`crate::random`], seeded once from here.
pub fn random_bytes(buf: &mut [u8]) {
    #[cfg(any(target_os = "wasi", not(target_arch = "wasm32")))]
    // SAFETY: the host writes exactly buf.len() bytes into buf.
    unsafe {
        random_get(buf.as_mut_ptr(), buf.len());
    }
    #[cfg(not(any(target_os = "wasi", not(target_arch = "wasm32"))))]
    buf.fill(0);
}
