//! hello: adds a greeting header to every request, counts requests, and answers
//! `reply_path` itself with a JSON greeting.

use serde::Deserialize;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{ConfigError, Filter, Flow, Hooks, Http, LocalReply};

/// The JSON configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Value of the `x-hello` request header.
    greeting: String,
    /// A path answered by the filter itself, without reaching the upstream.
    reply_path: Option<String>,
}

/// The compiled filter.
pub struct Hello {
    greeting: String,
    reply_path: Option<Vec<u8>>,
    requests: Counter,
}

impl Filter for Hello {
    const NAME: &'static str = "hello";
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;
    type Config = Config;
    type Stream = ();

    fn compile(config: Config) -> Result<Self, ConfigError> {
        if let Some(path) = config.reply_path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(ConfigError::at(
                "reply_path",
                format!("must start with `/`, found {path:?}"),
            ));
        }
        Ok(Hello {
            greeting: config.greeting,
            reply_path: config.reply_path.map(String::into_bytes),
            requests: Counter::new("wasmesh_hello_requests_total", &["outcome"]),
        })
    }

    fn on_request_headers(&self, _: &mut (), http: &Http) -> Flow {
        if self.reply_path.is_some() && http.request_header(":path") == self.reply_path {
            self.requests.increment(&["replied"]);
            let reply = LocalReply::json(200, &[("greeting", &self.greeting)]);
            return Flow::Reply(reply.with_details("hello_reply"));
        }
        self.requests.increment(&["forwarded"]);
        http.set_request_header("x-hello", self.greeting.as_bytes());
        Flow::Continue
    }
}

wasmesh_sdk::export_filter!(Hello);
