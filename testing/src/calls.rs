//! What each `proxy_*` host function does, on bytes and numbers: the emulator's behaviour,
//! shared by both backends. [`crate::native`] reads the arguments through raw pointers,
//! [`crate::wasm`] out of the module's linear memory; both hand the results back the way
//! the proxy-wasm ABI says.
//!
//! Enumerations arrive as their ABI codes (`u32`), so a module passing a code the ABI does
//! not define gets `BadArgument` rather than undefined behaviour.

use crate::state::{with, LogLine, Metric, Pairs, SentReply, State};
use proxy_wasm::types::{LogLevel, Status};
use wasmesh_sdk::metrics::MetricKind;
use wasmesh_sdk::wire;

/// Bytes for the module, or the status the call fails with.
pub(crate) type Give = Result<Vec<u8>, Status>;

/// Counts one call of host function `name` (see [`crate::Host::host_calls`]).
pub(crate) fn count(name: &'static str) {
    with(|s| *s.host_calls.entry(name).or_default() += 1);
}

fn status(ok: bool) -> Status {
    if ok {
        Status::Ok
    } else {
        Status::NotFound
    }
}

/// The log level with ABI code `code`.
pub(crate) fn log_level_of(code: u32) -> Option<LogLevel> {
    Some(match code {
        0 => LogLevel::Trace,
        1 => LogLevel::Debug,
        2 => LogLevel::Info,
        3 => LogLevel::Warn,
        4 => LogLevel::Error,
        5 => LogLevel::Critical,
        _ => return None,
    })
}

/// The header map with ABI code `map` (`MapType`) of the current stream.
fn map_of(state: &mut State, map: u32) -> Option<&mut Pairs> {
    let stream = state.stream()?;
    match map {
        0 => Some(&mut stream.request_headers),
        1 => Some(&mut stream.request_trailers),
        2 => Some(&mut stream.response_headers),
        3 => Some(&mut stream.response_trailers),
        _ => None,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `proxy_log`.
pub(crate) fn log(level: u32, message: &[u8]) -> Status {
    count("proxy_log");
    let Some(level) = log_level_of(level) else {
        return Status::BadArgument;
    };
    let message = text(message);
    with(|s| s.logs.push(LogLine { level, message }));
    Status::Ok
}

/// `proxy_get_log_level`: the level's ABI code.
pub(crate) fn log_level() -> u32 {
    with(|s| s.log_level) as u32
}

/// `proxy_get_current_time_nanoseconds`.
pub(crate) fn current_time() -> u64 {
    count("proxy_get_current_time_nanoseconds");
    with(|s| s.now_nanos)
}

/// `proxy_get_buffer_bytes`: the configuration buffers (`BufferType` 6 and 7) only.
pub(crate) fn buffer_bytes(buffer_type: u32, start: usize, max_size: usize) -> Give {
    let buffer = with(|s| match buffer_type {
        6 => Some(s.vm_config.clone()),
        7 => Some(s.plugin_config.clone()),
        _ => None,
    })
    .ok_or(Status::NotFound)?;
    let end = start.saturating_add(max_size).min(buffer.len());
    Ok(buffer.get(start.min(end)..end).unwrap_or_default().to_vec())
}

/// `proxy_get_header_map_pairs`.
pub(crate) fn header_map_pairs(map: u32) -> Give {
    count("proxy_get_header_map_pairs");
    with(|s| map_of(s, map).map(|m| wire::encode_pairs(m))).ok_or(Status::BadArgument)
}

/// `proxy_set_header_map_pairs`.
pub(crate) fn set_header_map_pairs(map: u32, data: &[u8]) -> Status {
    count("proxy_set_header_map_pairs");
    let Some(pairs) = wire::decode_pairs(data) else {
        return Status::BadArgument;
    };
    with(|s| match map_of(s, map) {
        Some(map) => {
            *map = pairs;
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

/// `proxy_get_header_map_value`: the first value of `key`.
pub(crate) fn header_map_value(map: u32, key: &[u8]) -> Give {
    count("proxy_get_header_map_value");
    with(|s| {
        map_of(s, map)?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
    })
    .ok_or(Status::NotFound)
}

/// `proxy_remove_header_map_value`.
pub(crate) fn remove_header_map_value(map: u32, key: &[u8]) -> Status {
    count("proxy_remove_header_map_value");
    with(|s| match map_of(s, map) {
        Some(map) => {
            map.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

/// `proxy_replace_header_map_value`.
pub(crate) fn replace_header_map_value(map: u32, key: &[u8], value: &[u8]) -> Status {
    count("proxy_replace_header_map_value");
    let key = key.to_ascii_lowercase();
    with(|s| match map_of(s, map) {
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
            map.insert(at, (key, value.to_vec()));
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

/// `proxy_add_header_map_value`.
pub(crate) fn add_header_map_value(map: u32, key: &[u8], value: &[u8]) -> Status {
    count("proxy_add_header_map_value");
    let key = key.to_ascii_lowercase();
    with(|s| match map_of(s, map) {
        Some(map) => {
            map.push((key, value.to_vec()));
            Status::Ok
        }
        None => Status::BadArgument,
    })
}

/// `proxy_get_property`: the current stream's value, else the host-wide one.
pub(crate) fn property(path: &[u8]) -> Give {
    count("proxy_get_property");
    with(|s| {
        s.property_reads.push(
            path.split(|&b| b == 0)
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join("."),
        );
        s.property(path)
    })
    .ok_or(Status::NotFound)
}

/// `proxy_set_property`: on the current stream, or host-wide outside of one.
pub(crate) fn set_property(path: &[u8], value: &[u8]) -> Status {
    count("proxy_set_property");
    let (path, value) = (path.to_vec(), value.to_vec());
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

/// `proxy_send_local_response`: records the reply and the response Envoy sends downstream
/// for it (`:status`, the reply's headers, and for a body `content-length` and, unless
/// given, `content-type: text/plain`), which the response callbacks then see.
pub(crate) fn send_local_response(
    status_code: u32,
    details: &[u8],
    body: &[u8],
    headers: &[u8],
) -> Status {
    count("proxy_send_local_response");
    let headers = wire::decode_pairs(headers).unwrap_or_default();
    let status = u16::try_from(status_code).unwrap_or(0);
    let details = text(details);
    let body = body.to_vec();
    with(|s| {
        let Some(stream) = s.stream() else {
            return Status::BadArgument;
        };
        let mut sent: Pairs = vec![(b":status".to_vec(), status.to_string().into_bytes())];
        sent.extend(headers.iter().cloned());
        if !body.is_empty() {
            sent.push((
                b"content-length".to_vec(),
                body.len().to_string().into_bytes(),
            ));
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(b"content-type"))
            {
                sent.push((b"content-type".to_vec(), b"text/plain".to_vec()));
            }
        }
        stream.response_headers = sent;
        // What `response.code` then reports.
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
            headers: headers.iter().map(|(k, v)| (text(k), text(v))).collect(),
            body,
        });
        Status::Ok
    })
}

/// `proxy_set_effective_context`.
pub(crate) fn set_effective_context(context_id: u32) -> Status {
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

/// `proxy_call_foreign_function`: `expr_create` and `expr_evaluate` as Envoy offers them
/// (unless [`crate::Host::refuse_foreign_functions`] was called). An evaluation with an
/// attribute the host has no value for fails, as a CEL lookup of a missing key does.
pub(crate) fn call_foreign_function(name: &[u8], argument: &[u8]) -> Give {
    count("proxy_call_foreign_function");
    if !with(|s| s.foreign_functions) {
        return Err(Status::NotFound);
    }
    match name {
        b"expr_create" => {
            let expression = compile_expression(&String::from_utf8_lossy(argument))
                .ok_or(Status::BadArgument)?;
            let token = with(|s| {
                s.expressions.push(expression);
                u32::try_from(s.expressions.len() - 1).unwrap_or(u32::MAX)
            });
            Ok(token.to_le_bytes().to_vec())
        }
        b"expr_evaluate" => {
            let token = <[u8; 4]>::try_from(argument).map_err(|_| Status::BadArgument)?;
            let token = u32::from_le_bytes(token) as usize;
            let (paths, list) =
                with(|s| s.expressions.get(token).cloned()).ok_or(Status::NotFound)?;
            let values = paths
                .iter()
                .map(|path| with(|s| s.property(path)))
                .collect::<Option<Vec<Vec<u8>>>>()
                .ok_or(Status::InternalFailure)?;
            Ok(if list {
                let pairs: Pairs = values
                    .into_iter()
                    .map(|value| (value, Vec::new()))
                    .collect();
                wire::encode_pairs(&pairs)
            } else {
                values.into_iter().next().unwrap_or_default()
            })
        }
        _ => Err(Status::NotFound),
    }
}

/// `proxy_define_metric`: the metric's id (the same for the same name and kind).
pub(crate) fn define_metric(metric_type: u32, name: &[u8]) -> Result<u32, Status> {
    count("proxy_define_metric");
    let kind = match metric_type {
        0 => MetricKind::Counter,
        1 => MetricKind::Gauge,
        2 => MetricKind::Histogram,
        _ => return Err(Status::BadArgument),
    };
    let name = text(name);
    Ok(with(|s| {
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
    }))
}

fn metric<R>(id: u32, f: impl FnOnce(&mut Metric) -> R) -> Option<R> {
    let index = usize::try_from(id).ok()?.checked_sub(1)?;
    with(|s| s.metrics.get_mut(index).map(f))
}

/// `proxy_get_metric`: a counter's or gauge's value.
pub(crate) fn metric_value(id: u32) -> Result<u64, Status> {
    count("proxy_get_metric");
    match metric(id, |m| (m.kind != MetricKind::Histogram).then_some(m.value)) {
        Some(Some(value)) => Ok(value),
        Some(None) => Err(Status::BadArgument),
        None => Err(Status::NotFound),
    }
}

/// `proxy_record_metric`: sets a counter or gauge, adds a histogram sample.
pub(crate) fn record_metric(id: u32, value: u64) -> Status {
    count("proxy_record_metric");
    let recorded = metric(id, |m| match m.kind {
        MetricKind::Histogram => m.samples.push(value),
        _ => m.value = value,
    });
    status(recorded.is_some())
}

/// `proxy_increment_metric`.
pub(crate) fn increment_metric(id: u32, offset: i64) -> Status {
    count("proxy_increment_metric");
    let incremented = metric(id, |m| {
        m.value = m.value.saturating_add_signed(offset);
    });
    status(incremented.is_some())
}

/// WASI `random_get`: fills `buf` from this thread's seeded generator. Not counted.
pub(crate) fn random(buf: &mut [u8]) {
    with(|s| {
        for chunk in buf.chunks_mut(8) {
            let word = s.rng.next().to_le_bytes();
            for (dst, src) in chunk.iter_mut().zip(word) {
                *dst = src;
            }
        }
    });
}
