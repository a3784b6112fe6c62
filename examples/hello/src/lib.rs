//! hello: adds a greeting header to every request, counts requests, and answers
//! `reply_path` itself with a JSON greeting.
//!
//! The shape of every wasmesh filter: [`Hello::decide`] is the request logic, a plain
//! function from the request headers to an [`Outcome`]; the [`Filter`] callback reads what
//! it needs through the [`Host`], records the metric and hands the outcome back to the
//! SDK, which applies it.

use wasmesh_sdk::config::reader::Node;
use wasmesh_sdk::metrics::Counter;
use wasmesh_sdk::{ConfigError, Filter, Flow, HeaderEdit, Hooks, Host, LocalReply, Outcome};

/// The compiled filter.
pub struct Hello {
    greeting: String,
    reply_path: Option<String>,
    requests: Counter,
}

impl Hello {
    /// The filter for this greeting and reply path (which must start with `/`).
    pub fn new(greeting: String, reply_path: Option<String>) -> Result<Self, ConfigError> {
        if let Some(path) = reply_path.as_deref().filter(|p| !p.starts_with('/')) {
            return Err(ConfigError::at(
                "reply_path",
                format!("must start with `/`, found {path:?}"),
            ));
        }
        Ok(Hello {
            greeting,
            reply_path,
            requests: Counter::new("wasmesh_hello_requests_total", &["outcome"]),
        })
    }

    /// What to do with a request whose `:path` is `path`: answer it at `reply_path`, else
    /// forward it with the greeting header. Returns the outcome and the `outcome` tag of the
    /// request counter.
    pub fn decide(&self, path: Option<&[u8]>) -> (Outcome<'_>, &'static str) {
        if self.reply_path.as_deref().map(str::as_bytes) == path && path.is_some() {
            let reply = LocalReply::json(200, &[("greeting", &self.greeting)]);
            return (Outcome::reply(reply.with_details("hello_reply")), "replied");
        }
        let greeting = HeaderEdit::Set("x-hello", self.greeting.as_bytes().into());
        (Outcome::edit(vec![greeting]), "forwarded")
    }
}

impl Filter for Hello {
    const NAME: &'static str = "hello";
    const HOOKS: Hooks = Hooks::REQUEST_HEADERS;
    const ROUTE_FIELDS: &'static [&'static str] = &["greeting", "reply_path"];
    type Stream = ();

    /// `{"greeting": "...", "reply_path": "/..."}`; `reply_path` is optional. A `routes`
    /// entry may give a route its own greeting and reply path.
    fn compile(config: &Node<'_>, _: &dyn Host) -> Result<Self, ConfigError> {
        let fields = config.object(&["greeting", "reply_path"])?;
        let greeting = fields.present("greeting")?.string()?;
        Hello::new(greeting, fields.read_opt("reply_path", Node::string)?)
    }

    fn on_request_headers(&self, _: &mut (), host: &dyn Host) -> Flow {
        // Without a reply path the decision needs nothing from the request: no header read.
        let headers = self.reply_path.as_ref().map(|_| host.request_headers());
        let path = headers
            .as_deref()
            .and_then(|headers| headers.first(":path"));
        let (outcome, counted) = self.decide(path);
        self.requests.increment(host, &[counted]);
        host.apply_to_request(outcome)
    }
}

wasmesh_sdk::export_filter!(Hello);

#[cfg(test)]
mod tests {
    use super::*;

    fn hello() -> Hello {
        Hello::new("hi".to_owned(), Some("/hello".to_owned())).unwrap()
    }

    #[test]
    fn forwards_with_the_greeting() {
        let filter = hello();
        let (outcome, counted) = filter.decide(Some(b"/other"));
        assert_eq!(counted, "forwarded");
        assert_eq!(
            outcome.edits,
            vec![HeaderEdit::Set("x-hello", b"hi".as_slice().into())]
        );
        assert_eq!(outcome.reply, None);
    }

    #[test]
    fn answers_its_path() {
        let filter = hello();
        let (outcome, counted) = filter.decide(Some(b"/hello"));
        assert_eq!(counted, "replied");
        let reply = outcome.reply.unwrap();
        assert_eq!(
            (reply.status, reply.body),
            (200, br#"{"greeting":"hi"}"#.to_vec())
        );
        assert!(outcome.edits.is_empty());
    }

    #[test]
    fn a_reply_path_is_a_path() {
        let error = Hello::new("hi".to_owned(), Some("hello".to_owned()))
            .err()
            .unwrap();
        assert_eq!(error.path(), "reply_path");
    }
}
