//! A chain of filters in one module, driven through the proxy-wasm dispatcher.
#![cfg(not(target_arch = "wasm32"))]

use std::cell::RefCell;
use wasmesh_sdk::chain::{stage, Bundle, Chain, StageFactory};
use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::{ConfigError, Filter, Flow, HeaderEdit, Host, LocalReply, Outcome};
use wasmesh_testing::{Action, Host as Emulator, LogLevel};

thread_local! {
    static CALLS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn record(call: String) {
    CALLS.with(|c| c.borrow_mut().push(call));
}

fn calls() -> Vec<String> {
    CALLS.with(|c| c.borrow_mut().drain(..).collect())
}

struct TagConfig {
    header: String,
    deny_path: Option<String>,
}

/// Adds a header, optionally denies a path, and records every callback.
struct Tagger(TagConfig);

impl Filter for Tagger {
    const NAME: &'static str = "tagger";
    type Stream = u32;

    fn compile(node: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        let fields = node.object(&["header", "deny_path"])?;
        let config = TagConfig {
            header: fields.present("header")?.string()?,
            deny_path: fields.read_opt("deny_path", Node::string)?,
        };
        if config.header.is_empty() {
            return Err(ConfigError::at("header", "must not be empty"));
        }
        Ok(Tagger(config))
    }

    fn on_request_headers(&self, stream: &mut u32, host: &dyn Host) -> Flow {
        *stream += 1;
        record(format!("request {}", self.0.header));
        let headers = host.request_headers();
        let mut outcome = Outcome::edit(vec![HeaderEdit::Set(&self.0.header, b"1".into())]);
        if let Some(path) = &self.0.deny_path {
            if headers.first(":path") == Some(path.as_bytes()) {
                outcome.reply = Some(LocalReply::error(403, "forbidden", &self.0.header));
            }
        }
        host.apply_to_request(outcome)
    }

    fn on_response_headers(&self, stream: &mut u32, _host: &dyn Host) -> Flow {
        record(format!("response {} {stream}", self.0.header));
        Flow::Continue
    }

    fn on_log(&self, stream: &mut u32, _host: &dyn Host) {
        record(format!("log {} {stream}", self.0.header));
    }
}

/// A second kind of stage, with defaults.
struct Counter;

impl Filter for Counter {
    const NAME: &'static str = "counter";
    type Stream = ();
    const DEFAULT_CONFIG: Option<&'static str> = Some("{}");

    fn compile(node: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        node.object(&[])?;
        Ok(Counter)
    }

    fn on_log(&self, _: &mut (), _host: &dyn Host) {
        record("log counter".to_owned());
    }
}

struct TestBundle;

impl Bundle for TestBundle {
    const NAME: &'static str = "test-bundle";

    fn stages() -> Vec<(&'static str, StageFactory)> {
        vec![stage::<Tagger>(), stage::<Counter>()]
    }
}

fn host(config: &str) -> Emulator {
    calls();
    let host = Emulator::native::<Chain<TestBundle>>();
    assert!(host.configure(config), "{:?}", host.logs());
    host
}

const TWO: &str = r#"{"chain": [
    {"name": "tagger", "config": {"header": "x-first", "deny_path": "/deny"}},
    {"name": "counter"}
]}"#;

#[test]
fn stages_run_in_order_and_all_see_the_end() {
    let host = host(TWO);
    let stream = host.stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/ok")]),
        Action::Continue
    );
    assert_eq!(stream.request_header("x-first").as_deref(), Some("1"));
    stream.send_response_headers(&[(":status", "200")]);
    stream.finish();
    assert_eq!(
        calls(),
        [
            "request x-first",
            "response x-first 1",
            "log x-first 1",
            "log counter"
        ]
    );
}

#[test]
fn a_reply_stops_the_request_but_every_stage_logs() {
    let host = host(
        r#"{"chain": [
            {"name": "tagger", "config": {"header": "x-a", "deny_path": "/deny"}},
            {"name": "counter"}
        ]}"#,
    );
    let stream = host.stream();
    assert_eq!(
        stream.send_request_headers(&[(":path", "/deny")]),
        Action::Pause
    );
    let reply = stream.local_reply().unwrap();
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        serde_json::json!({"error": "forbidden", "rule": "x-a"})
    );
    stream.finish();
    // Envoy sends the reply back through the response callbacks: the stage that saw the
    // request sees its own reply; the counter, which never saw the request, only logs.
    assert_eq!(
        calls(),
        ["request x-a", "response x-a 1", "log x-a 1", "log counter"]
    );
}

#[test]
fn stage_order_comes_from_the_configuration() {
    let host = host(
        r#"{"chain": [
            {"name": "counter"},
            {"name": "tagger", "config": {"header": "x-b"}}
        ]}"#,
    );
    host.stream().send_request_headers(&[(":path", "/")]);
    assert_eq!(calls(), ["request x-b", "log counter", "log x-b 1"]);
}

fn refused(config: &str) -> String {
    let host = Emulator::native::<Chain<TestBundle>>();
    assert!(!host.configure(config));
    let lines: Vec<String> = host
        .logs()
        .into_iter()
        .filter(|l| l.level == LogLevel::Critical)
        .map(|l| l.message)
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap_or_default()
}

#[test]
fn stage_errors_name_the_path_inside_the_chain() {
    assert_eq!(
        refused(r#"{"chain": [{"name": "counter"}, {"name": "tagger", "config": {"header": 7}}]}"#),
        "test-bundle: config.chain[1].config.header: expected a string, found 7"
    );
    assert_eq!(
        refused(r#"{"chain": [{"name": "tagger", "config": {"header": ""}}]}"#),
        "test-bundle: config.chain[0].config.header: must not be empty"
    );
    assert_eq!(
        refused(r#"{"chain": [{"name": "tagger"}]}"#),
        "test-bundle: config.chain[0].config: tagger needs a configuration"
    );
}

#[test]
fn unknown_duplicate_and_empty_chains_are_refused() {
    assert_eq!(
        refused(r#"{"chain": [{"name": "nope"}]}"#),
        "test-bundle: config.chain[0].name: unknown filter `nope`, expected one of tagger, counter"
    );
    assert_eq!(
        refused(r#"{"chain": [{"name": "counter"}, {"name": "counter"}]}"#),
        "test-bundle: config.chain[1].name: `counter` appears twice in the chain"
    );
    assert_eq!(
        refused(r#"{"chain": []}"#),
        "test-bundle: config.chain: the chain is empty"
    );
    assert_eq!(
        refused(r#"{"stages": []}"#),
        "test-bundle: config.stages: unknown field `stages`, expected `chain`"
    );
}
