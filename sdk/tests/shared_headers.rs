//! One read of the request headers per callback, kept up to date by the changes made
//! through `Http`, and changes that change nothing kept from the host.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::RefCell;
use wasmesh_sdk::testing::Host;
use wasmesh_sdk::{ConfigError, Filter, Flow, Http};

thread_local! {
    static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn seen(line: String) {
    SEEN.with(|s| s.borrow_mut().push(line));
}

fn take_seen() -> Vec<String> {
    SEEN.with(|s| s.borrow_mut().drain(..).collect())
}

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
    type Config = ();
    type Stream = ();

    fn default_config() -> Option<()> {
        Some(())
    }

    fn compile(_: ()) -> Result<Self, ConfigError> {
        Ok(Editor)
    }

    fn on_request_headers(&self, _: &mut (), http: &Http) -> Flow {
        let before = http.request_headers();
        http.set_request_header("x-same", b"1");
        http.remove_request_header("x-absent");
        http.set_request_header("x-twice", b"one");
        http.set_request_header("X-New", b"n");
        http.add_request_header("x-added", b"a");
        http.remove_request_header("x-gone");
        seen(format!("before {:?}", text(&before)));
        seen(format!("after {:?}", text(&http.request_headers())));
        seen(format!("x-new {:?}", http.request_header("x-new")));
        Flow::Continue
    }
}

#[test]
fn request_headers_are_read_once_and_follow_the_changes() {
    let host = Host::new(wasmesh_sdk::register::<Editor>);
    assert!(host.configure(""));
    let stream = host.stream();
    stream.send_request_headers(&[
        (":path", "/"),
        ("x-twice", "one"),
        ("x-same", "1"),
        ("x-gone", "g"),
        ("x-twice", "two"),
    ]);
    let expected_after = [":path=/", "x-twice=one", "x-same=1", "x-new=n", "x-added=a"];
    assert_eq!(
        take_seen(),
        vec![
            r#"before [":path=/", "x-twice=one", "x-same=1", "x-gone=g", "x-twice=two"]"#
                .to_string(),
            format!("after {expected_after:?}"),
            "x-new Some([110])".to_string(),
        ]
    );
    // What the host holds is what the filter's copy says.
    let host_headers: Vec<String> = stream
        .request_headers()
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    assert_eq!(host_headers, expected_after);
    assert_eq!(host.host_calls("proxy_get_header_map_pairs"), 1);
    assert_eq!(host.host_calls("proxy_get_header_map_value"), 0);
    // x-same already had the value, x-absent was absent: neither reached the host. x-twice
    // had its value twice, so setting it did.
    assert_eq!(host.host_calls("proxy_replace_header_map_value"), 2);
    assert_eq!(host.host_calls("proxy_remove_header_map_value"), 1);
    assert_eq!(host.host_calls("proxy_add_header_map_value"), 1);
    stream.finish();
}
