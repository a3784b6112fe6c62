//! access-control (being written; see its issue).

use serde::Deserialize;
use wasmesh_sdk::{ConfigError, Filter};

/// The JSON configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

/// The compiled filter.
pub struct AccessControl;

impl Filter for AccessControl {
    const NAME: &'static str = "access-control";
    type Config = Config;
    type Stream = ();

    fn default_config() -> Option<Config> {
        Some(Config::default())
    }

    fn compile(_config: Config) -> Result<Self, ConfigError> {
        Ok(AccessControl)
    }
}

wasmesh_sdk::export_filter!(AccessControl);
