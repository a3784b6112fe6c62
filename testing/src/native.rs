//! The native backend: the 37 `proxy_*` host functions the `proxy-wasm` crate imports and
//! WASI's `random_get`, defined as native symbols over raw pointers, and the callbacks of
//! the proxy-wasm dispatcher linked into the test binary.
//!
//! Buffers handed to the guest are allocated with the Rust global allocator as boxed
//! slices of exactly their length, which is how the guest frees them
//! (`Vec::from_raw_parts(ptr, len, len)`). Enumerations are taken as their `u32` ABI codes
//! (every proxy-wasm enum is `#[repr(u32)]`, so the calling convention is the same).
#![allow(clippy::not_unsafe_ptr_arg_deref, unsafe_code)]

use crate::calls::{self, Give};
use crate::vm::Callback;
use proxy_wasm::types::{Action, Status};
use std::ptr::null_mut;

#[allow(improper_ctypes)]
extern "C" {
    fn proxy_on_context_create(context_id: u32, root_context_id: u32);
    fn proxy_on_vm_start(context_id: u32, vm_configuration_size: usize) -> bool;
    fn proxy_on_configure(context_id: u32, plugin_configuration_size: usize) -> bool;
    fn proxy_on_request_headers(context_id: u32, num_headers: usize, end_of_stream: bool)
        -> Action;
    fn proxy_on_response_headers(
        context_id: u32,
        num_headers: usize,
        end_of_stream: bool,
    ) -> Action;
    fn proxy_on_response_trailers(context_id: u32, num_trailers: usize) -> Action;
    fn proxy_on_done(context_id: u32) -> bool;
    fn proxy_on_log(context_id: u32);
    fn proxy_on_delete(context_id: u32);
}

/// Runs one callback of the dispatcher linked into this binary; its result as the module
/// would return it (`Action` and `bool` as their codes, 0 for none).
pub(crate) fn call(callback: Callback) -> u32 {
    // SAFETY: calls into the proxy-wasm dispatcher linked into this binary, with plain
    // values; it reaches the host only through the functions below.
    unsafe {
        match callback {
            Callback::ContextCreate { id, root } => {
                proxy_on_context_create(id, root);
                0
            }
            Callback::VmStart { root, size } => u32::from(proxy_on_vm_start(root, size)),
            Callback::Configure { root, size } => u32::from(proxy_on_configure(root, size)),
            Callback::RequestHeaders { id, count, end } => {
                proxy_on_request_headers(id, count, end) as u32
            }
            Callback::ResponseHeaders { id, count, end } => {
                proxy_on_response_headers(id, count, end) as u32
            }
            Callback::ResponseTrailers { id, count } => {
                proxy_on_response_trailers(id, count) as u32
            }
            Callback::Log { id } => {
                proxy_on_log(id);
                0
            }
            Callback::Done { id } => u32::from(proxy_on_done(id)),
            Callback::Delete { id } => {
                proxy_on_delete(id);
                0
            }
        }
    }
}

/// Every host function, referenced so that the linker keeps them all whatever the test
/// binary calls (the dispatcher finds them by symbol name, not by a Rust path).
pub(crate) fn host_functions() -> [*const (); 38] {
    [
        proxy_log as *const (),
        proxy_get_log_level as *const (),
        proxy_get_current_time_nanoseconds as *const (),
        proxy_set_tick_period_milliseconds as *const (),
        proxy_get_buffer_bytes as *const (),
        proxy_set_buffer_bytes as *const (),
        proxy_get_header_map_pairs as *const (),
        proxy_set_header_map_pairs as *const (),
        proxy_get_header_map_value as *const (),
        proxy_remove_header_map_value as *const (),
        proxy_replace_header_map_value as *const (),
        proxy_add_header_map_value as *const (),
        proxy_get_property as *const (),
        proxy_set_property as *const (),
        proxy_get_shared_data as *const (),
        proxy_set_shared_data as *const (),
        proxy_register_shared_queue as *const (),
        proxy_resolve_shared_queue as *const (),
        proxy_dequeue_shared_queue as *const (),
        proxy_enqueue_shared_queue as *const (),
        proxy_continue_stream as *const (),
        proxy_close_stream as *const (),
        proxy_send_local_response as *const (),
        proxy_http_call as *const (),
        proxy_grpc_call as *const (),
        proxy_grpc_stream as *const (),
        proxy_grpc_send as *const (),
        proxy_grpc_cancel as *const (),
        proxy_grpc_close as *const (),
        proxy_get_status as *const (),
        proxy_set_effective_context as *const (),
        proxy_call_foreign_function as *const (),
        proxy_done as *const (),
        proxy_define_metric as *const (),
        proxy_get_metric as *const (),
        proxy_record_metric as *const (),
        proxy_increment_metric as *const (),
        random_get as *const (),
    ]
}

/// Hands `bytes` to the guest.
unsafe fn give(bytes: Vec<u8>, data: *mut *mut u8, size: *mut usize) {
    let boxed = bytes.into_boxed_slice();
    *size = boxed.len();
    *data = Box::into_raw(boxed) as *mut u8;
}

/// Hands the result of a call to the guest: `Ok` with the bytes, or the failure.
unsafe fn give_result(result: Give, data: *mut *mut u8, size: *mut usize) -> Status {
    match result {
        Ok(bytes) => {
            give(bytes, data, size);
            Status::Ok
        }
        Err(status) => status,
    }
}

unsafe fn slice<'a>(data: *const u8, size: usize) -> &'a [u8] {
    if data.is_null() || size == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, size)
    }
}

#[no_mangle]
pub extern "C" fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> Status {
    // Called from inside wasmtime: wasmtime's own log lines, not a module's.
    #[cfg(feature = "dist")]
    if crate::wasm::inside() {
        return Status::Ok;
    }
    calls::log(level, unsafe { slice(message_data, message_size) })
}

#[no_mangle]
pub extern "C" fn proxy_get_log_level(return_level: *mut u32) -> Status {
    let level = calls::log_level();
    unsafe { *return_level = level };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> Status {
    let now = calls::current_time();
    unsafe { *return_time = now };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_set_tick_period_milliseconds(_period: u32) -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_get_buffer_bytes(
    buffer_type: u32,
    start: usize,
    max_size: usize,
    return_buffer_data: *mut *mut u8,
    return_buffer_size: *mut usize,
) -> Status {
    let result = calls::buffer_bytes(buffer_type, start, max_size);
    unsafe { give_result(result, return_buffer_data, return_buffer_size) }
}

#[no_mangle]
pub extern "C" fn proxy_set_buffer_bytes(
    _buffer_type: u32,
    _start: usize,
    _size: usize,
    _buffer_data: *const u8,
    _buffer_size: usize,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_get_header_map_pairs(
    map_type: u32,
    return_map_data: *mut *mut u8,
    return_map_size: *mut usize,
) -> Status {
    let result = calls::header_map_pairs(map_type);
    unsafe { give_result(result, return_map_data, return_map_size) }
}

#[no_mangle]
pub extern "C" fn proxy_set_header_map_pairs(
    map_type: u32,
    map_data: *const u8,
    map_size: usize,
) -> Status {
    calls::set_header_map_pairs(map_type, unsafe { slice(map_data, map_size) })
}

#[no_mangle]
pub extern "C" fn proxy_get_header_map_value(
    map_type: u32,
    key_data: *const u8,
    key_size: usize,
    return_value_data: *mut *mut u8,
    return_value_size: *mut usize,
) -> Status {
    let result = calls::header_map_value(map_type, unsafe { slice(key_data, key_size) });
    unsafe { give_result(result, return_value_data, return_value_size) }
}

#[no_mangle]
pub extern "C" fn proxy_remove_header_map_value(
    map_type: u32,
    key_data: *const u8,
    key_size: usize,
) -> Status {
    calls::remove_header_map_value(map_type, unsafe { slice(key_data, key_size) })
}

#[no_mangle]
pub extern "C" fn proxy_replace_header_map_value(
    map_type: u32,
    key_data: *const u8,
    key_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> Status {
    let (key, value) = unsafe { (slice(key_data, key_size), slice(value_data, value_size)) };
    calls::replace_header_map_value(map_type, key, value)
}

#[no_mangle]
pub extern "C" fn proxy_add_header_map_value(
    map_type: u32,
    key_data: *const u8,
    key_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> Status {
    let (key, value) = unsafe { (slice(key_data, key_size), slice(value_data, value_size)) };
    calls::add_header_map_value(map_type, key, value)
}

#[no_mangle]
pub extern "C" fn proxy_get_property(
    path_data: *const u8,
    path_size: usize,
    return_value_data: *mut *mut u8,
    return_value_size: *mut usize,
) -> Status {
    let result = calls::property(unsafe { slice(path_data, path_size) });
    unsafe { give_result(result, return_value_data, return_value_size) }
}

#[no_mangle]
pub extern "C" fn proxy_set_property(
    path_data: *const u8,
    path_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> Status {
    let (path, value) = unsafe { (slice(path_data, path_size), slice(value_data, value_size)) };
    calls::set_property(path, value)
}

#[no_mangle]
pub extern "C" fn proxy_get_shared_data(
    _key_data: *const u8,
    _key_size: usize,
    return_value_data: *mut *mut u8,
    _return_value_size: *mut usize,
    _return_cas: *mut u32,
) -> Status {
    unsafe { *return_value_data = null_mut() };
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_set_shared_data(
    _key_data: *const u8,
    _key_size: usize,
    _value_data: *const u8,
    _value_size: usize,
    _cas: u32,
) -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_register_shared_queue(
    _name_data: *const u8,
    _name_size: usize,
    _return_id: *mut u32,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_resolve_shared_queue(
    _vm_id_data: *const u8,
    _vm_id_size: usize,
    _name_data: *const u8,
    _name_size: usize,
    _return_id: *mut u32,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_dequeue_shared_queue(
    _queue_id: u32,
    _return_value_data: *mut *mut u8,
    _return_value_size: *mut usize,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_enqueue_shared_queue(
    _queue_id: u32,
    _value_data: *const u8,
    _value_size: usize,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_continue_stream(_stream_type: u32) -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_close_stream(_stream_type: u32) -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_send_local_response(
    status_code: u32,
    status_code_details_data: *const u8,
    status_code_details_size: usize,
    body_data: *const u8,
    body_size: usize,
    headers_data: *const u8,
    headers_size: usize,
    _grpc_status: i32,
) -> Status {
    let (details, body, headers) = unsafe {
        (
            slice(status_code_details_data, status_code_details_size),
            slice(body_data, body_size),
            slice(headers_data, headers_size),
        )
    };
    calls::send_local_response(status_code, details, body, headers)
}

#[no_mangle]
pub extern "C" fn proxy_http_call(
    _upstream_data: *const u8,
    _upstream_size: usize,
    _headers_data: *const u8,
    _headers_size: usize,
    _body_data: *const u8,
    _body_size: usize,
    _trailers_data: *const u8,
    _trailers_size: usize,
    _timeout: u32,
    _return_token: *mut u32,
) -> Status {
    Status::BadArgument
}

#[no_mangle]
pub extern "C" fn proxy_grpc_call(
    _upstream_data: *const u8,
    _upstream_size: usize,
    _service_name_data: *const u8,
    _service_name_size: usize,
    _method_name_data: *const u8,
    _method_name_size: usize,
    _initial_metadata_data: *const u8,
    _initial_metadata_size: usize,
    _message_data_data: *const u8,
    _message_data_size: usize,
    _timeout: u32,
    _return_callout_id: *mut u32,
) -> Status {
    Status::BadArgument
}

#[no_mangle]
pub extern "C" fn proxy_grpc_stream(
    _upstream_data: *const u8,
    _upstream_size: usize,
    _service_name_data: *const u8,
    _service_name_size: usize,
    _method_name_data: *const u8,
    _method_name_size: usize,
    _initial_metadata_data: *const u8,
    _initial_metadata_size: usize,
    _return_stream_id: *mut u32,
) -> Status {
    Status::BadArgument
}

#[no_mangle]
pub extern "C" fn proxy_grpc_send(
    _token: u32,
    _message_ptr: *const u8,
    _message_len: usize,
    _end_stream: bool,
) -> Status {
    Status::BadArgument
}

#[no_mangle]
pub extern "C" fn proxy_grpc_cancel(_token_id: u32) -> Status {
    Status::BadArgument
}

#[no_mangle]
pub extern "C" fn proxy_grpc_close(_token_id: u32) -> Status {
    Status::BadArgument
}

#[no_mangle]
pub extern "C" fn proxy_get_status(
    _return_code: *mut u32,
    _return_message_data: *mut *mut u8,
    _return_message_size: *mut usize,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_set_effective_context(context_id: u32) -> Status {
    calls::set_effective_context(context_id)
}

#[no_mangle]
pub extern "C" fn proxy_call_foreign_function(
    function_name_data: *const u8,
    function_name_size: usize,
    arguments_data: *const u8,
    arguments_size: usize,
    results_data: *mut *mut u8,
    results_size: *mut usize,
) -> Status {
    let (name, argument) = unsafe {
        (
            slice(function_name_data, function_name_size),
            slice(arguments_data, arguments_size),
        )
    };
    let result = calls::call_foreign_function(name, argument);
    unsafe { give_result(result, results_data, results_size) }
}

#[no_mangle]
pub extern "C" fn proxy_done() -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_define_metric(
    metric_type: u32,
    name_data: *const u8,
    name_size: usize,
    return_id: *mut u32,
) -> Status {
    match calls::define_metric(metric_type, unsafe { slice(name_data, name_size) }) {
        Ok(id) => {
            unsafe { *return_id = id };
            Status::Ok
        }
        Err(status) => status,
    }
}

#[no_mangle]
pub extern "C" fn proxy_get_metric(metric_id: u32, return_value: *mut u64) -> Status {
    match calls::metric_value(metric_id) {
        Ok(value) => {
            unsafe { *return_value = value };
            Status::Ok
        }
        Err(status) => status,
    }
}

#[no_mangle]
pub extern "C" fn proxy_record_metric(metric_id: u32, value: u64) -> Status {
    calls::record_metric(metric_id, value)
}

#[no_mangle]
pub extern "C" fn proxy_increment_metric(metric_id: u32, offset: i64) -> Status {
    calls::increment_metric(metric_id, offset)
}

/// WASI's `random_get`, which the SDK calls natively too: the emulator's seeded generator.
#[no_mangle]
pub extern "C" fn random_get(buf: *mut u8, buf_len: usize) -> u16 {
    if !buf.is_null() && buf_len > 0 {
        calls::random(unsafe { std::slice::from_raw_parts_mut(buf, buf_len) });
    }
    0
}
