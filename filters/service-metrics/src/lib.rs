//! service-metrics (being written; see its issue).

use serde::Deserialize;
use wasmesh_sdk::{ConfigError, Filter};

/// The JSON configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// The compiled filter.
pub struct ServiceMetrics;

impl Filter for ServiceMetrics {
    const NAME: &'static str = "service-metrics";
    type Config = Config;
    type Stream = ();

    fn default_config() -> Option<Config> {
        Some(Config::default())
    }

    fn compile(_config: Config) -> Result<Self, ConfigError> {
        Ok(ServiceMetrics)
    }
}

wasmesh_sdk::export_filter!(ServiceMetrics);
