//! Several filters in one module, run in a configured order.
//!
//! A bundle pays Envoy's per-VM and per-callback cost once instead of once per filter.
//! Its configuration lists the stages in order, each with its own configuration:
//!
//! ```json
//! {"chain": [
//!   {"name": "header-normalization", "config": {}},
//!   {"name": "access-control", "config": {"rules": []}}
//! ]}
//! ```
//!
//! Request headers go through the stages in order until one replies locally; response
//! callbacks go through the stages that saw the request, in reverse order; `on_log` runs
//! for every stage, so a stage after the one that replied still sees the request end
//! (metrics count an access-control 403). A filter's code is the same in a chain as alone,
//! and so is its configuration, its `routes` section (see [`crate::routes`]) included.

use crate::config::reader::Node;
use crate::config::{ConfigError, Value};
use crate::filter::Filter;
use crate::hooks::Hooks;
use crate::reply::Flow;
use crate::routes::{RouteChoice, Routed};
use crate::seam::Host;
use std::any::Any;
use std::marker::PhantomData;

/// A filter type erased so that a chain can hold several kinds.
pub trait Stage {
    /// Fresh per-request state for this stage.
    fn new_stream(&self) -> Box<dyn Any>;
    /// See [`Filter::on_request_headers`].
    fn on_request_headers(&self, stream: &mut dyn Any, host: &dyn Host) -> Flow;
    /// See [`Filter::on_response_headers`].
    fn on_response_headers(&self, stream: &mut dyn Any, host: &dyn Host) -> Flow;
    /// See [`Filter::on_response_trailers`].
    fn on_response_trailers(&self, stream: &mut dyn Any, host: &dyn Host);
    /// See [`Filter::on_log`].
    fn on_log(&self, stream: &mut dyn Any, host: &dyn Host);
}

/// A stage's per-request state: the configuration the request got, and the filter's own.
struct StageStream<F: Filter> {
    route: RouteChoice,
    state: F::Stream,
}

impl<F: Filter> Routed<F> {
    /// Runs `callback` with the request's configuration and state.
    fn run<R>(
        &self,
        stream: &mut dyn Any,
        host: &dyn Host,
        callback: impl FnOnce(&F, &mut F::Stream, &dyn Host) -> R,
    ) -> Option<R> {
        let stream = stream.downcast_mut::<StageStream<F>>()?;
        let filter = self.after_request(&mut stream.route, host)?;
        Some(callback(filter, &mut stream.state, host))
    }
}

impl<F: Filter> Stage for Routed<F> {
    fn new_stream(&self) -> Box<dyn Any> {
        Box::new(StageStream::<F> {
            route: RouteChoice::default(),
            state: F::Stream::default(),
        })
    }

    fn on_request_headers(&self, stream: &mut dyn Any, host: &dyn Host) -> Flow {
        let Some(stream) = stream.downcast_mut::<StageStream<F>>() else {
            return Flow::Continue;
        };
        match self.for_stream(&mut stream.route, host) {
            Ok(filter) => filter.on_request_headers(&mut stream.state, host),
            Err(reply) => Flow::Reply(reply),
        }
    }

    fn on_response_headers(&self, stream: &mut dyn Any, host: &dyn Host) -> Flow {
        self.run(stream, host, F::on_response_headers)
            .unwrap_or(Flow::Continue)
    }

    fn on_response_trailers(&self, stream: &mut dyn Any, host: &dyn Host) {
        self.run(stream, host, F::on_response_trailers);
    }

    fn on_log(&self, stream: &mut dyn Any, host: &dyn Host) {
        self.run(stream, host, F::on_log);
    }
}

/// Builds one stage from its JSON configuration (`None` for an absent configuration).
pub type StageFactory = fn(Option<&Node<'_>>, &dyn Host) -> Result<Box<dyn Stage>, ConfigError>;

/// The factory for filter `F`: its name and how to build it from JSON.
pub fn stage<F: Filter>() -> (&'static str, StageFactory) {
    fn build<F: Filter>(
        config: Option<&Node<'_>>,
        host: &dyn Host,
    ) -> Result<Box<dyn Stage>, ConfigError> {
        let filter = match (config, F::DEFAULT_CONFIG) {
            (Some(config), _) => Routed::<F>::compile(config, host)?,
            (None, Some(_)) => crate::filter::load_routed::<F>(b"", host)?,
            (None, None) => {
                return Err(ConfigError::at(
                    "",
                    format!("{} needs a configuration", F::NAME),
                ))
            }
        };
        Ok(Box::new(filter))
    }
    (F::NAME, build::<F>)
}

/// The filters a bundle can host.
pub trait Bundle: 'static {
    /// The bundle's name in log lines (e.g. `wasmesh`).
    const NAME: &'static str;
    /// The union of its filters' [`Filter::HOOKS`].
    const HOOKS: Hooks = Hooks::ALL;
    /// The filters it offers, by name.
    fn stages() -> Vec<(&'static str, StageFactory)>;
}

/// A chain of stages chosen from bundle `B` by configuration. Register it like any filter:
/// `wasmesh_sdk::export_filter!(Chain<MyBundle>)`.
pub struct Chain<B: Bundle> {
    stages: Vec<Box<dyn Stage>>,
    bundle: PhantomData<B>,
}

/// A chain's configuration. [`Chain`] reads it with [`ChainConfig::read`].
#[derive(Debug)]
pub struct ChainConfig {
    /// The stages, in the order requests go through them.
    pub chain: Vec<StageConfig>,
}

/// One stage of a chain.
#[derive(Debug)]
pub struct StageConfig {
    /// The filter's name.
    pub name: String,
    /// The filter's own configuration.
    pub config: Option<Value>,
}

impl ChainConfig {
    /// Reads the configuration from its JSON document: `{"chain": [...]}`.
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&["chain"])?;
        Ok(Self {
            chain: fields.present("chain")?.list(StageConfig::read)?,
        })
    }
}

impl StageConfig {
    /// Reads one stage from its JSON object, `{"name": ..., "config": ...}` (a `null`
    /// configuration is an absent one).
    pub fn read(node: &Node<'_>) -> Result<Self, ConfigError> {
        let fields = node.object(&["name", "config"])?;
        Ok(Self {
            name: fields.present("name")?.string()?,
            config: fields.get("config").map(|config| config.value().clone()),
        })
    }
}

/// Per-request state of a chain.
#[derive(Default)]
pub struct ChainStream {
    streams: Vec<Box<dyn Any>>,
    /// How many stages saw the request headers.
    entered: usize,
}

impl<B: Bundle> Chain<B> {
    fn streams(&self, stream: &mut ChainStream) {
        if stream.streams.len() != self.stages.len() {
            stream.streams = self.stages.iter().map(|s| s.new_stream()).collect();
        }
    }
}

impl<B: Bundle> Filter for Chain<B> {
    const NAME: &'static str = B::NAME;
    const HOOKS: Hooks = B::HOOKS;
    type Stream = ChainStream;

    /// Reads the document with [`ChainConfig::read`], then compiles every stage.
    fn compile(node: &Node<'_>, host: &dyn Host) -> Result<Self, ConfigError> {
        let config = ChainConfig::read(node)?;
        if config.chain.is_empty() {
            return Err(ConfigError::at("chain", "the chain is empty"));
        }
        let factories = B::stages();
        let mut stages = Vec::with_capacity(config.chain.len());
        let mut seen: Vec<&str> = Vec::new();
        for (index, stage) in config.chain.into_iter().enumerate() {
            let Some((name, factory)) = factories.iter().find(|(name, _)| *name == stage.name)
            else {
                let known: Vec<&str> = factories.iter().map(|(name, _)| *name).collect();
                return Err(ConfigError::at(
                    format!("chain[{index}].name"),
                    format!(
                        "unknown filter `{}`, expected one of {}",
                        stage.name,
                        known.join(", ")
                    ),
                ));
            };
            if seen.contains(name) {
                return Err(ConfigError::at(
                    format!("chain[{index}].name"),
                    format!("`{name}` appears twice in the chain"),
                ));
            }
            seen.push(name);
            stages.push(
                factory(stage.config.as_ref().map(Node::root).as_ref(), host)
                    .map_err(|e| e.nested_in(&format!("chain[{index}].config")))?,
            );
        }
        Ok(Self {
            stages,
            bundle: PhantomData,
        })
    }

    fn on_request_headers(&self, stream: &mut ChainStream, host: &dyn Host) -> Flow {
        self.streams(stream);
        for (stage, state) in self.stages.iter().zip(stream.streams.iter_mut()) {
            stream.entered += 1;
            if let Flow::Reply(reply) = stage.on_request_headers(state.as_mut(), host) {
                return Flow::Reply(reply);
            }
        }
        Flow::Continue
    }

    fn on_response_headers(&self, stream: &mut ChainStream, host: &dyn Host) -> Flow {
        self.streams(stream);
        let entered = stream.entered;
        for (stage, state) in self
            .stages
            .iter()
            .zip(stream.streams.iter_mut())
            .take(entered)
            .rev()
        {
            if let Flow::Reply(reply) = stage.on_response_headers(state.as_mut(), host) {
                return Flow::Reply(reply);
            }
        }
        Flow::Continue
    }

    fn on_response_trailers(&self, stream: &mut ChainStream, host: &dyn Host) {
        self.streams(stream);
        let entered = stream.entered;
        for (stage, state) in self
            .stages
            .iter()
            .zip(stream.streams.iter_mut())
            .take(entered)
            .rev()
        {
            stage.on_response_trailers(state.as_mut(), host);
        }
    }

    fn on_log(&self, stream: &mut ChainStream, host: &dyn Host) {
        self.streams(stream);
        for (stage, state) in self.stages.iter().zip(stream.streams.iter_mut()) {
            stage.on_log(state.as_mut(), host);
        }
    }
}
