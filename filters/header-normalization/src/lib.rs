//! header-normalization (being written; see its issue).

use serde::Deserialize;
use wasmesh_sdk::{ConfigError, Filter};

/// The JSON configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// The compiled filter.
pub struct HeaderNormalization;

impl Filter for HeaderNormalization {
    const NAME: &'static str = "header-normalization";
    type Config = Config;
    type Stream = ();

    fn default_config() -> Option<Config> {
        Some(Config::default())
    }

    fn compile(_config: Config) -> Result<Self, ConfigError> {
        Ok(HeaderNormalization)
    }
}

wasmesh_sdk::export_filter!(HeaderNormalization);
