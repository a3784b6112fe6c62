//! The 37 `proxy_*` host functions the `proxy-wasm` crate imports, defined natively.
//!
//! Buffers handed to the guest are allocated with the Rust global allocator as boxed
//! slices of exactly their length, which is how the guest frees them
//! (`Vec::from_raw_parts(ptr, len, len)`).
#![allow(clippy::not_unsafe_ptr_arg_deref, unsafe_code)]

use super::state::{with, LogLine, Metric, Pairs, SentReply, State};
use crate::metrics::MetricKind;
use crate::wire;
use proxy_wasm::types::{BufferType, LogLevel, MapType, MetricType, Status, StreamType};
use std::ptr::null_mut;

/// Hands `bytes` to the guest.
unsafe fn give(bytes: Vec<u8>, data: *mut *mut u8, size: *mut usize) {
    let boxed = bytes.into_boxed_slice();
    *size = boxed.len();
    *data = Box::into_raw(boxed) as *mut u8;
}

unsafe fn slice<'a>(data: *const u8, size: usize) -> &'a [u8] {
    if data.is_null() || size == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, size)
    }
}

unsafe fn text(data: *const u8, size: usize) -> String {
    String::from_utf8_lossy(slice(data, size)).into_owned()
}

fn map_of(state: &mut State, map: MapType) -> Option<&mut Pairs> {
    let stream = state.stream()?;
    match map {
        MapType::HttpRequestHeaders => Some(&mut stream.request_headers),
        MapType::HttpRequestTrailers => Some(&mut stream.request_trailers),
        MapType::HttpResponseHeaders => Some(&mut stream.response_headers),
        MapType::HttpResponseTrailers => Some(&mut stream.response_trailers),
        _ => None,
    }
}

/// Counts one call of host function `name` (see [`super::Host::host_calls`]).
fn count(name: &'static str) {
    with(|s| *s.host_calls.entry(name).or_default() += 1);
}

fn status(ok: bool) -> Status {
    if ok {
        Status::Ok
    } else {
        Status::NotFound
    }
}

#[no_mangle]
pub extern "C" fn proxy_log(
    level: LogLevel,
    message_data: *const u8,
    message_size: usize,
) -> Status {
    count("proxy_log");
    let message = unsafe { text(message_data, message_size) };
    with(|s| s.logs.push(LogLine { level, message }));
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_get_log_level(return_level: *mut LogLevel) -> Status {
    let level = with(|s| s.log_level);
    unsafe { *return_level = level };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> Status {
    count("proxy_get_current_time_nanoseconds");
    let now = with(|s| s.now_nanos);
    unsafe { *return_time = now };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_set_tick_period_milliseconds(_period: u32) -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_get_buffer_bytes(
    buffer_type: BufferType,
    start: usize,
    max_size: usize,
    return_buffer_data: *mut *mut u8,
    return_buffer_size: *mut usize,
) -> Status {
    let buffer = with(|s| match buffer_type {
        BufferType::PluginConfiguration => Some(s.plugin_config.clone()),
        BufferType::VmConfiguration => Some(s.vm_config.clone()),
        _ => None,
    });
    let Some(buffer) = buffer else {
        return Status::NotFound;
    };
    let end = start.saturating_add(max_size).min(buffer.len());
    let part = buffer.get(start.min(end)..end).unwrap_or_default().to_vec();
    unsafe { give(part, return_buffer_data, return_buffer_size) };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_set_buffer_bytes(
    _buffer_type: BufferType,
    _start: usize,
    _size: usize,
    _buffer_data: *const u8,
    _buffer_size: usize,
) -> Status {
    Status::NotFound
}

#[no_mangle]
pub extern "C" fn proxy_get_header_map_pairs(
    map_type: MapType,
    return_map_data: *mut *mut u8,
    return_map_size: *mut usize,
) -> Status {
    count("proxy_get_header_map_pairs");
    let Some(serialized) = with(|s| map_of(s, map_type).map(|m| wire::encode_pairs(m))) else {
        return Status::BadArgument;
    };
    unsafe { give(serialized, return_map_data, return_map_size) };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_set_header_map_pairs(
    map_type: MapType,
    map_data: *const u8,
    map_size: usize,
) -> Status {
    count("proxy_set_header_map_pairs");
    let Some(pairs) = wire::decode_pairs(unsafe { slice(map_data, map_size) }) else {
        return Status::BadArgument;
    };
    with(|s| match map_of(s, map_type) {
        Some(map) => {
            *map = pairs;
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

#[no_mangle]
pub extern "C" fn proxy_get_header_map_value(
    map_type: MapType,
    key_data: *const u8,
    key_size: usize,
    return_value_data: *mut *mut u8,
    return_value_size: *mut usize,
) -> Status {
    count("proxy_get_header_map_value");
    let key = unsafe { slice(key_data, key_size) };
    let value = with(|s| {
        map_of(s, map_type)?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    });
    match value {
        Some(value) => {
            unsafe { give(value, return_value_data, return_value_size) };
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_remove_header_map_value(
    map_type: MapType,
    key_data: *const u8,
    key_size: usize,
) -> Status {
    count("proxy_remove_header_map_value");
    let key = unsafe { slice(key_data, key_size) };
    with(|s| match map_of(s, map_type) {
        Some(map) => {
            map.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

#[no_mangle]
pub extern "C" fn proxy_replace_header_map_value(
    map_type: MapType,
    key_data: *const u8,
    key_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> Status {
    count("proxy_replace_header_map_value");
    let key = unsafe { slice(key_data, key_size) }.to_ascii_lowercase();
    let value = unsafe { slice(value_data, value_size) }.to_vec();
    with(|s| match map_of(s, map_type) {
        Some(map) => {
            // Like Envoy 1.40: every entry of the name goes and one is appended, after the
            // other pseudo-headers for a pseudo-header.
            map.retain(|(k, _)| !k.eq_ignore_ascii_case(&key));
            let at = if key.starts_with(b":") {
                map.iter()
                    .position(|(k, _)| !k.starts_with(b":"))
                    .unwrap_or(map.len())
            } else {
                map.len()
            };
            map.insert(at, (key, value));
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

#[no_mangle]
pub extern "C" fn proxy_add_header_map_value(
    map_type: MapType,
    key_data: *const u8,
    key_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> Status {
    count("proxy_add_header_map_value");
    let key = unsafe { slice(key_data, key_size) }.to_ascii_lowercase();
    let value = unsafe { slice(value_data, value_size) }.to_vec();
    with(|s| match map_of(s, map_type) {
        Some(map) => {
            map.push((key, value));
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

#[no_mangle]
pub extern "C" fn proxy_get_property(
    path_data: *const u8,
    path_size: usize,
    return_value_data: *mut *mut u8,
    return_value_size: *mut usize,
) -> Status {
    count("proxy_get_property");
    let path = unsafe { slice(path_data, path_size) };
    with(|s| {
        s.property_reads.push(
            path.split(|&b| b == 0)
                .map(|segment| String::from_utf8_lossy(segment))
                .collect::<Vec<_>>()
                .join("."),
        )
    });
    match with(|s| s.property(path)) {
        Some(value) => {
            unsafe { give(value, return_value_data, return_value_size) };
            Status::Ok
        }
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_set_property(
    path_data: *const u8,
    path_size: usize,
    value_data: *const u8,
    value_size: usize,
) -> Status {
    count("proxy_set_property");
    let path = unsafe { slice(path_data, path_size) }.to_vec();
    let value = unsafe { slice(value_data, value_size) }.to_vec();
    with(|s| match s.stream() {
        Some(stream) => {
            stream.properties.insert(path, value);
        }
        None => {
            s.properties.insert(path, value);
        }
    });
    Status::Ok
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
pub extern "C" fn proxy_continue_stream(_stream_type: StreamType) -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_close_stream(_stream_type: StreamType) -> Status {
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
    count("proxy_send_local_response");
    let details = unsafe { text(status_code_details_data, status_code_details_size) };
    let body = unsafe { slice(body_data, body_size) }.to_vec();
    let headers =
        wire::decode_pairs(unsafe { slice(headers_data, headers_size) }).unwrap_or_default();
    let status = u16::try_from(status_code).unwrap_or(0);
    with(|s| {
        let Some(stream) = s.stream() else {
            return Status::BadArgument;
        };
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        // What Envoy sends downstream, and what `response.code` then reports.
        stream.response_headers =
            std::iter::once((b":status".to_vec(), status.to_string().into_bytes()))
                .chain(
                    headers
                        .iter()
                        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())),
                )
                .collect();
        stream.properties.insert(
            b"response\0code".to_vec(),
            i64::from(status).to_le_bytes().to_vec(),
        );
        stream.properties.insert(
            b"response\0code_details".to_vec(),
            details.as_bytes().to_vec(),
        );
        stream.local_reply = Some(SentReply {
            status,
            details,
            headers,
            body,
        });
        Status::Ok
    })
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
    with(|s| s.current = context_id);
    Status::Ok
}

/// Compiles the CEL expressions Envoy's `expr_create` takes that the SDK sends: one
/// attribute path (`response.code`) or a list of them (`[response.code, connection.mtls]`).
/// Returns the encoded paths and whether it is a list; `None` for anything else.
fn compile_expression(text: &str) -> Option<(Vec<Vec<u8>>, bool)> {
    let text = text.trim();
    let (inner, list) = match text.strip_prefix('[') {
        Some(rest) => (rest.strip_suffix(']')?, true),
        None => (text, false),
    };
    let paths = inner
        .split(',')
        .map(|path| {
            let segments: Vec<&str> = path.trim().split('.').collect();
            let valid = segments.iter().all(|segment| {
                !segment.is_empty()
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            valid.then(|| wire::encode_property_path(&segments))
        })
        .collect::<Option<Vec<_>>>()?;
    (list || paths.len() == 1).then_some((paths, list))
}

/// `expr_create` and `expr_evaluate` as Envoy offers them (when
/// [`super::Host::refuse_foreign_functions`] was not called): an evaluation with an
/// attribute the host has no value for fails, as a CEL lookup of a missing key does.
#[no_mangle]
pub extern "C" fn proxy_call_foreign_function(
    function_name_data: *const u8,
    function_name_size: usize,
    arguments_data: *const u8,
    arguments_size: usize,
    results_data: *mut *mut u8,
    results_size: *mut usize,
) -> Status {
    count("proxy_call_foreign_function");
    if !with(|s| s.foreign_functions) {
        return Status::NotFound;
    }
    let name = unsafe { text(function_name_data, function_name_size) };
    let argument = unsafe { slice(arguments_data, arguments_size) };
    let result = match name.as_str() {
        "expr_create" => {
            let Some(expression) = compile_expression(&String::from_utf8_lossy(argument)) else {
                return Status::BadArgument;
            };
            with(|s| {
                s.expressions.push(expression);
                u32::try_from(s.expressions.len() - 1).unwrap_or(u32::MAX)
            })
            .to_le_bytes()
            .to_vec()
        }
        "expr_evaluate" => {
            let Ok(token) = <[u8; 4]>::try_from(argument) else {
                return Status::BadArgument;
            };
            let token = u32::from_le_bytes(token) as usize;
            let Some((paths, list)) = with(|s| s.expressions.get(token).cloned()) else {
                return Status::NotFound;
            };
            let values: Option<Vec<Vec<u8>>> = paths
                .iter()
                .map(|path| with(|s| s.property(path)))
                .collect();
            let Some(values) = values else {
                return Status::InternalFailure;
            };
            if list {
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = values
                    .into_iter()
                    .map(|value| (value, Vec::new()))
                    .collect();
                wire::encode_pairs(&pairs)
            } else {
                values.into_iter().next().unwrap_or_default()
            }
        }
        _ => return Status::NotFound,
    };
    unsafe { give(result, results_data, results_size) };
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_done() -> Status {
    Status::Ok
}

#[no_mangle]
pub extern "C" fn proxy_define_metric(
    metric_type: MetricType,
    name_data: *const u8,
    name_size: usize,
    return_id: *mut u32,
) -> Status {
    count("proxy_define_metric");
    let name = unsafe { text(name_data, name_size) };
    let kind = match metric_type {
        MetricType::Counter => MetricKind::Counter,
        MetricType::Gauge => MetricKind::Gauge,
        MetricType::Histogram => MetricKind::Histogram,
        _ => return Status::BadArgument,
    };
    let id = with(|s| {
        let index = match s
            .metrics
            .iter()
            .position(|m| m.name == name && m.kind == kind)
        {
            Some(index) => index,
            None => {
                s.metrics.push(Metric {
                    name,
                    kind,
                    value: 0,
                    samples: Vec::new(),
                });
                s.metrics.len() - 1
            }
        };
        u32::try_from(index + 1).unwrap_or(u32::MAX)
    });
    unsafe { *return_id = id };
    Status::Ok
}

fn metric<R>(id: u32, f: impl FnOnce(&mut Metric) -> R) -> Option<R> {
    let index = usize::try_from(id).ok()?.checked_sub(1)?;
    with(|s| s.metrics.get_mut(index).map(f))
}

#[no_mangle]
pub extern "C" fn proxy_get_metric(metric_id: u32, return_value: *mut u64) -> Status {
    count("proxy_get_metric");
    match metric(metric_id, |m| {
        (m.kind != MetricKind::Histogram).then_some(m.value)
    }) {
        Some(Some(value)) => {
            unsafe { *return_value = value };
            Status::Ok
        }
        Some(None) => Status::BadArgument,
        None => Status::NotFound,
    }
}

#[no_mangle]
pub extern "C" fn proxy_record_metric(metric_id: u32, value: u64) -> Status {
    count("proxy_record_metric");
    let recorded = metric(metric_id, |m| match m.kind {
        MetricKind::Histogram => m.samples.push(value),
        _ => m.value = value,
    });
    status(recorded.is_some())
}

#[no_mangle]
pub extern "C" fn proxy_increment_metric(metric_id: u32, offset: i64) -> Status {
    count("proxy_increment_metric");
    let incremented = metric(metric_id, |m| {
        m.value = m.value.saturating_add_signed(offset);
    });
    status(incremented.is_some())
}
