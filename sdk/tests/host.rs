//! The SDK's host bindings (headers, properties, metrics, logging) through the emulator.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::RefCell;
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::metrics::{Counter, Histogram};
use wasmesh_sdk::{ConfigError, Filter, Flow, HeaderEdit, Host};
use wasmesh_testing::{Host as Emulator, LogLevel};

thread_local! {
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn seen(line: String) {
    SEEN.with(|s| s.borrow_mut().push(line));
}

fn take_seen() -> Vec<String> {
    SEEN.with(|s| s.borrow_mut().drain(..).collect())
}

/// Reports what the SDK reads from the host; counts by a client-chosen tag (to test the cap).
struct Probe {
    by_tag: Counter,
    sizes: Histogram,
}

impl Filter for Probe {
    const NAME: &'static str = "probe";
    type Stream = ();
    const DEFAULT_CONFIG: Option<&'static str> = Some("{}");

    fn compile(_: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        Ok(Probe {
            by_tag: Counter::new("probe_total", &["tag", "kind"]).with_tag_set_cap(3),
            sizes: Histogram::new("probe_bytes", &[]),
        })
    }

    fn on_request_headers(&self, _: &mut (), host: &dyn Host) -> Flow {
        let headers = host.request_headers();
        let tags: Vec<String> = headers
            .values("x-tag")
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        seen(format!("x-tag values {tags:?}"));
        seen(format!(
            "single x-tag {:?}",
            headers.single("x-tag").map(|v| v.len())
        ));
        if let Some(raw) = headers.first("x-raw") {
            seen(format!("x-raw bytes {:?}", raw.to_vec()));
        }
        for tag in &tags {
            self.by_tag.increment(host, &[tag, "k"]);
        }
        host.edit_request(&HeaderEdit::Add("x-added", b"a".into()));
        host.edit_request(&HeaderEdit::Add("x-added", b"b".into()));
        host.edit_request(&HeaderEdit::Remove("x-remove"));
        log::info!("saw {} headers", headers.len());
        seen(format!("mtls {:?}", host.bool(&["connection", "mtls"])));
        seen(format!("san {:?}", host.peer_uri_san()));
        seen(format!("source {:?}", host.string(&["source", "address"])));
        let route = host
            .string(&["xds", "route_name"])
            .filter(|r| !r.is_empty());
        seen(format!("route {route:?}"));
        Flow::Continue
    }

    fn on_log(&self, _: &mut (), host: &dyn Host) {
        let code = host
            .int(&["response", "code"])
            .and_then(|c| u16::try_from(c).ok());
        seen(format!("code {code:?}"));
        let flags = host
            .int(&["response", "flags"])
            .and_then(|f| u64::try_from(f).ok());
        seen(format!("flags {flags:?}"));
        let duration = host
            .int(&["request", "duration"])
            .and_then(|d| u64::try_from(d).ok());
        seen(format!("duration {duration:?}"));
        if let Some(size) = host
            .int(&["request", "total_size"])
            .and_then(|n| u64::try_from(n).ok())
        {
            self.sizes.record(host, &[], size);
        }
    }
}

fn host() -> Emulator {
    take_seen();
    let host = Emulator::native::<Probe>();
    assert!(host.configure(""));
    host
}

#[test]
fn repeated_and_non_utf8_headers_are_all_seen() {
    let host = host();
    let stream = host.stream();
    stream.send_request_headers_bytes(vec![
        (b":path".to_vec(), b"/".to_vec()),
        (b"x-tag".to_vec(), b"a".to_vec()),
        (b"x-tag".to_vec(), b"b".to_vec()),
        (b"x-raw".to_vec(), vec![0xff, 0x00, b'z']),
        (b"x-remove".to_vec(), b"1".to_vec()),
        (b"x-remove".to_vec(), b"2".to_vec()),
    ]);
    let seen = take_seen();
    assert!(
        seen.contains(&r#"x-tag values ["a", "b"]"#.to_owned()),
        "{seen:?}"
    );
    assert!(seen.contains(&"single x-tag Err(2)".to_owned()), "{seen:?}");
    assert!(
        seen.contains(&"x-raw bytes [255, 0, 122]".to_owned()),
        "{seen:?}"
    );
    assert_eq!(stream.request_header_values("x-added"), ["a", "b"]);
    assert!(stream.request_header_values("x-remove").is_empty());
    assert!(host.logged(LogLevel::Info, "saw 6 headers"));
}

#[test]
fn typed_properties_read_what_envoy_encodes() {
    let host = host();
    host.set_property(&["connection", "mtls"], true);
    host.set_property(
        &["connection", "uri_san_peer_certificate"],
        "spiffe://td/sa/a",
    );
    host.set_property(&["source", "address"], "10.0.0.1:4242");
    let stream = host.stream();
    stream.set_property(&["response", "code"], 503i64);
    stream.set_property(&["response", "flags"], 0x20i64);
    stream.set_property(&["request", "duration"], 1_500_000i64);
    stream.set_property(&["request", "total_size"], 321i64);
    stream.send_request_headers(&[(":path", "/")]);
    stream.finish();
    let seen = take_seen();
    for line in [
        "mtls Some(true)",
        r#"san Some("spiffe://td/sa/a")"#,
        r#"source Some("10.0.0.1:4242")"#,
        "route None",
        "code Some(503)",
        "flags Some(32)",
        "duration Some(1500000)",
    ] {
        assert!(seen.contains(&line.to_owned()), "{line} not in {seen:?}");
    }
    assert_eq!(host.metric("probe_bytes").unwrap().samples, [321]);
}

#[test]
fn malformed_properties_read_as_absent() {
    let host = host();
    host.set_property(&["connection", "mtls"], &b"\x07\x07"[..]);
    let stream = host.stream();
    stream.set_property(&["response", "code"], &b"\x01"[..]);
    stream.send_request_headers(&[(":path", "/")]);
    stream.finish();
    let seen = take_seen();
    assert!(seen.contains(&"mtls None".to_owned()), "{seen:?}");
    assert!(seen.contains(&"code None".to_owned()), "{seen:?}");
}

#[test]
fn tag_sets_past_the_cap_count_as_other() {
    let host = host();
    for tag in ["a", "b", "a", "c", "d", "e", "a"] {
        host.stream()
            .send_request_headers(&[(":path", "/"), ("x-tag", tag)]);
    }
    let count = |tag: &str, kind: &str| {
        host.counter(&Emulator::stat_name(
            "probe_total",
            &[("tag", tag), ("kind", kind)],
        ))
    };
    assert_eq!(count("a", "k"), Some(3));
    assert_eq!(count("b", "k"), Some(1));
    assert_eq!(count("c", "k"), Some(1));
    assert_eq!(count("d", "k"), None);
    assert_eq!(count("other", "other"), Some(2));
    // One host stat per tag set: ids are cached, not redefined per request.
    let defined = host
        .metrics()
        .iter()
        .filter(|m| m.name.starts_with("probe_total"))
        .count();
    assert_eq!(defined, 4);
}

#[test]
fn a_tag_value_cannot_forge_another_tag() {
    let host = host();
    host.stream()
        .send_request_headers(&[(":path", "/"), ("x-tag", "x;.;.kind=.=admin")]);
    let names: Vec<String> = host.metrics().into_iter().map(|m| m.name).collect();
    assert!(
        names.contains(&"probe_total.tag=.=x%3B.%3B.kind%3D.%3Dadmin;.;.kind=.=k;.;".to_owned()),
        "{names:?}"
    );
}

// One read of the request headers per callback, kept up to date by the changes made
// through the SDK's `Host`, and changes that change nothing kept from the host.

fn text(headers: &wasmesh_sdk::HeaderMap) -> Vec<String> {
    headers
        .iter()
        .map(|(n, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(n),
                String::from_utf8_lossy(v)
            )
        })
        .collect()
}

/// Reads the headers, changes them, and reads them again.
struct Editor;

impl Filter for Editor {
    const NAME: &'static str = "editor";
    type Stream = ();
    const DEFAULT_CONFIG: Option<&'static str> = Some("{}");

    fn compile(_: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        Ok(Editor)
    }

    fn on_request_headers(&self, _: &mut (), host: &dyn Host) -> Flow {
        let before = host.request_headers();
        host.edit_request(&HeaderEdit::Set("x-same", b"1".into()));
        host.edit_request(&HeaderEdit::Remove("x-absent"));
        host.edit_request(&HeaderEdit::Set("x-twice", b"one".into()));
        host.edit_request(&HeaderEdit::Set("X-New", b"n".into()));
        host.edit_request(&HeaderEdit::Add("x-added", b"a".into()));
        host.edit_request(&HeaderEdit::Remove("x-gone"));
        seen(format!("before {:?}", text(&before)));
        seen(format!("after {:?}", text(&host.request_headers())));
        let new = host.request_headers().first("x-new").map(<[u8]>::to_vec);
        seen(format!("x-new {new:?}"));
        // One more value of a header already there: Envoy may join it to the present one
        // (`x-forwarded-for`) or add a pair, so the copy is read again.
        host.edit_request(&HeaderEdit::Add("x-same", b"2".into()));
        seen(format!("x-same {}", host.request_headers().count("x-same")));
        Flow::Continue
    }
}

#[test]
fn request_headers_are_read_once_and_follow_the_changes() {
    let host = Emulator::native::<Editor>();
    assert!(host.configure(""));
    let stream = host.stream();
    stream.send_request_headers(&[
        (":path", "/"),
        ("x-twice", "one"),
        ("x-same", "1"),
        ("x-gone", "g"),
        ("x-twice", "two"),
    ]);
    // x-twice had two values: Envoy removed both and appended the new one.
    let expected_after = [":path=/", "x-same=1", "x-twice=one", "x-new=n", "x-added=a"];
    assert_eq!(
        take_seen(),
        vec![
            r#"before [":path=/", "x-twice=one", "x-same=1", "x-gone=g", "x-twice=two"]"#
                .to_string(),
            format!("after {expected_after:?}"),
            "x-new Some([110])".to_string(),
            "x-same 2".to_string(),
        ]
    );
    // What the host holds is what the filter's copy says.
    let host_headers: Vec<String> = stream
        .request_headers()
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let mut expected_end = expected_after.to_vec();
    expected_end.push("x-same=2");
    assert_eq!(host_headers, expected_end);
    assert_eq!(host.host_calls("proxy_get_header_map_pairs"), 2);
    assert_eq!(host.host_calls("proxy_get_header_map_value"), 0);
    // x-same already had the value, x-absent was absent: neither reached the host. x-twice
    // had its value twice, so setting it did.
    assert_eq!(host.host_calls("proxy_replace_header_map_value"), 2);
    assert_eq!(host.host_calls("proxy_remove_header_map_value"), 1);
    assert_eq!(host.host_calls("proxy_add_header_map_value"), 2);
    stream.finish();
}
