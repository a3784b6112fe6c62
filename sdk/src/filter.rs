//! Declaring a filter and wiring it to the proxy-wasm root and HTTP contexts.

use crate::config::reader::Node;
use crate::config::Value;
use crate::config::{self, ConfigError};
use crate::hooks::Hooks;
use crate::host;
use crate::http::Http;
use crate::properties::{during_request, ConnectionAttributes};
use crate::reply::{Flow, LocalReply};
use crate::routes::{RouteChoice, Routed};
use crate::seam::Host;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel};
use std::rc::Rc;

/// An HTTP filter: a step that reads, validates and compiles its JSON configuration, and
/// the per-request callbacks.
///
/// The implementing type *is* the compiled configuration: [`Filter::compile`] builds it
/// once per configuration, and every request shares it (by reference count, never by
/// cloning). Per-request state lives in [`Filter::Stream`].
///
/// Each callback gets the [`Host`], the one way to Envoy. Keep it thin: read what the
/// decision needs, call the filter's own host-free decision function, and hand its
/// [`Outcome`](crate::Outcome) to [`Host::apply_to_request`] (or
/// [`Host::apply_to_response`]), which makes the edits and returns the [`Flow`].
pub trait Filter: Sized + 'static {
    /// The filter's name, used in log lines and error messages (e.g. `hello`).
    const NAME: &'static str;
    /// Per-request state, created fresh for every request.
    type Stream: Default + 'static;
    /// The callbacks this filter implements; the build removes the other exports so Envoy
    /// does not cross into the VM for them. Declare exactly the hooks you override.
    const HOOKS: Hooks = Hooks::ALL;

    /// The configuration (JSON text) used when Envoy passes none or an empty string;
    /// `None` refuses a missing configuration.
    const DEFAULT_CONFIG: Option<&'static str> = None;

    /// The top-level configuration fields a `routes` entry may override (see
    /// [`crate::routes`]). Empty (the default): the filter has no `routes` section.
    const ROUTE_FIELDS: &'static [&'static str] = &[];

    /// Compiles the configuration of a `routes` entry (its fields over the listener's, see
    /// [`crate::routes`]), `self` being the listener's compiled filter: where a filter
    /// refuses an entry weaker than the listener, or lets it share what the listener
    /// compiled (metric families, for example). An error's path is relative to the entry.
    /// By default, [`Filter::compile`].
    fn compile_route(&self, config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        Self::compile(config, host)
    }

    /// Reads, validates and compiles the configuration with the [`config::reader`]; errors
    /// name the JSON path of the field. `host` answers attribute reads such as the node
    /// metadata (there is no request yet).
    fn compile(config: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError>;

    /// The request headers arrived.
    fn on_request_headers(&self, _stream: &mut Self::Stream, _host: &dyn Host) -> Flow {
        Flow::Continue
    }

    /// The response headers arrived (or a local reply is being sent).
    fn on_response_headers(&self, _stream: &mut Self::Stream, _host: &dyn Host) -> Flow {
        Flow::Continue
    }

    /// The response trailers arrived.
    fn on_response_trailers(&self, _stream: &mut Self::Stream, _host: &dyn Host) {}

    /// The stream is over (completed, replied locally, or reset): the place for metrics and
    /// access logs. Runs for every request, whatever happened to it.
    fn on_log(&self, _stream: &mut Self::Stream, _host: &dyn Host) {}
}

/// Parses and compiles a configuration: JSON bytes in, the compiled filter or a
/// [`ConfigError`] out. Empty or whitespace-only input uses [`Filter::DEFAULT_CONFIG`].
pub fn load<F: Filter>(json: &[u8], host: &dyn Host) -> Result<F, ConfigError> {
    F::compile(&Node::root(&parse::<F>(json)?), host)
}

/// Like [`load`], with the configuration's `routes` section (see [`crate::routes`]): what
/// a module registered with [`register`] runs.
pub fn load_routed<F: Filter>(json: &[u8], host: &dyn Host) -> Result<Routed<F>, ConfigError> {
    Routed::compile(&Node::root(&parse::<F>(json)?), host)
}

/// The JSON document of a configuration; [`Filter::DEFAULT_CONFIG`] for an empty one.
fn parse<F: Filter>(json: &[u8]) -> Result<Value, ConfigError> {
    let json = match (json.iter().all(u8::is_ascii_whitespace), F::DEFAULT_CONFIG) {
        (false, _) => json,
        (true, Some(default)) => default.as_bytes(),
        (true, None) => {
            return Err(ConfigError::at(
                "",
                "the configuration is empty; this filter needs one (see its README)",
            ))
        }
    };
    config::json::parse(json).map_err(|e| ConfigError::at("", e.to_string()))
}

/// Registers `F` as this module's root context. Called from the module entry point that
/// [`crate::export_filter!`] generates, and by emulator tests.
pub fn register<F: Filter>() {
    crate::logging::install();
    proxy_wasm::set_root_context(|_| Box::new(Root::<F> { filter: None }));
}

struct Root<F> {
    filter: Option<Rc<Routed<F>>>,
}

impl<F: Filter> Context for Root<F> {}

impl<F: Filter> RootContext for Root<F> {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        crate::logging::follow_host_level();
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        crate::logging::follow_host_level();
        // Envoy's log level can change at run time (`POST /logging`); a tick a second
        // follows it without a host call per request.
        host::set_tick_period(1000);
        let json = host::buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        )
        .unwrap_or_default();
        match load_routed::<F>(&json, &Http::default()) {
            Ok(filter) => {
                self.filter = Some(Rc::new(filter));
                true
            }
            Err(error) => {
                host::log(LogLevel::Critical, &format!("{}: {error}", F::NAME));
                false
            }
        }
    }

    fn on_tick(&mut self) {
        crate::logging::follow_host_level();
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream::<F> {
            filter: self.filter.clone(),
            route: RouteChoice::default(),
            state: F::Stream::default(),
            connection: ConnectionAttributes::default(),
            http: Http::default(),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// One request's context: the shared compiled filter, the configuration the request got
/// (listener or route entry, chosen in its first callback), the request's own state, the
/// connection attributes read so far (see [`crate::properties`]) and the request's
/// [`Http`] (its header copy and what stages hand on), kept from callback to callback.
/// Without a filter (configuration refused) every callback lets the request pass; Envoy
/// does not create streams for a refused configuration in the first place.
struct Stream<F: Filter> {
    filter: Option<Rc<Routed<F>>>,
    route: RouteChoice,
    state: F::Stream,
    connection: ConnectionAttributes,
    http: Http,
}

impl<F: Filter> Stream<F> {
    /// Runs one of the filter's callbacks with the request's configuration, state and
    /// [`Http`], keeping the connection attributes it reads for the request's later
    /// callbacks; `None` without a filter. In the request headers callback, the reply
    /// instead when the request's route cannot be told ([`Routed::for_stream`]).
    fn run<R>(
        &mut self,
        request: bool,
        callback: impl FnOnce(&F, &mut F::Stream, &dyn Host) -> R,
    ) -> Option<Result<R, LocalReply>> {
        let routed = self.filter.as_deref()?;
        let state = &mut self.state;
        let http = &self.http;
        let route = &mut self.route;
        during_request(&mut self.connection, || {
            let filter = match request {
                true => routed.for_stream(route, http),
                false => Ok(routed.after_request(route, http)?),
            };
            Some(filter.map(|filter| callback(filter, state, http)))
        })
    }

    fn act(&self, flow: Option<Flow>) -> Action {
        match flow {
            None | Some(Flow::Continue) => Action::Continue,
            Some(Flow::Reply(reply)) => {
                self.http.send_reply(&reply);
                Action::Pause
            }
        }
    }
}

impl<F: Filter> Context for Stream<F> {}

impl<F: Filter> HttpContext for Stream<F> {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let flow = self.run(true, F::on_request_headers);
        self.act(flow.map(|flow| flow.unwrap_or_else(Flow::Reply)))
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let flow = self.run(false, F::on_response_headers);
        self.act(flow.and_then(Result::ok))
    }

    fn on_http_response_trailers(&mut self, _num_trailers: usize) -> Action {
        self.run(false, F::on_response_trailers);
        Action::Continue
    }

    fn on_log(&mut self) {
        self.run(false, F::on_log);
    }
}

/// Generates the module entry point (`_initialize`) registering a filter, on wasm32 only
/// and only when the calling crate's `export` feature is on (so several filters can be
/// linked into one bundle, which exports its own entry point).
///
/// ```ignore
/// wasmesh_sdk::export_filter!(Hello);
/// ```
#[macro_export]
macro_rules! export_filter {
    ($filter:ty) => {
        #[cfg(all(target_arch = "wasm32", feature = "export"))]
        $crate::__proxy_wasm::main! {{
            $crate::register::<$filter>();
        }}

        /// The hooks this module implements, read by the build to prune exports.
        #[cfg(all(target_arch = "wasm32", feature = "export"))]
        #[link_section = "wasmesh.hooks"]
        #[used]
        static WASMESH_HOOKS: [u8; 1] = [<$filter as $crate::Filter>::HOOKS.bits()];
    };
}
