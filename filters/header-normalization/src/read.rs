//! Reading the [`Config`] from its JSON value, field by field.
//!
//! The filter takes its configuration as a plain [`Value`] and reads it here rather than
//! through a serde derive: the derived deserializers cost about 25 KiB of wasm for this
//! configuration, the readers below a fraction of that. Errors read as the SDK's do
//! (`expected a boolean, found 42`, ``unknown field `x`, expected ...``) and name the JSON
//! path of the field. The `path` object is `wasmesh-path`'s [`PathOptions`], read by its own
//! reader so that it always matches the access-control filter's.

use wasmesh_path::PathOptions;
use wasmesh_sdk::config::json::parse;
use wasmesh_sdk::config::reader::{describe, one_of, Node};
use wasmesh_sdk::config::{Number, Value};
use wasmesh_sdk::ConfigError;

use crate::config::{
    AuthorityConfig, Config, LowercaseMethods, RenameConfig, RepeatedSingletons, StripPort,
    TrustedCallerConfig, Underscores,
};

const CONFIG_FIELDS: &[&str] = &[
    "path",
    "original_path_header",
    "allowed_methods",
    "lowercase_methods",
    "underscores_in_names",
    "singleton_headers",
    "repeated_singletons",
    "strip_hop_by_hop",
    "internal_headers",
    "trusted_callers",
    "authority",
    "max_headers",
    "max_header_bytes",
    "trim_whitespace",
    "renames",
    "allow_weaker_routes",
];

impl Config {
    /// Parses and reads a configuration from JSON text (see [`Config::from_value`]).
    pub fn from_json(json: &[u8]) -> Result<Self, ConfigError> {
        let value = parse(json).map_err(|error| ConfigError::at("", error.to_string()))?;
        Self::from_value(value)
    }

    /// Reads a configuration from JSON: an object whose fields are all optional (`null`
    /// is the default configuration too). Errors name the JSON path of the field.
    pub fn from_value(value: Value) -> Result<Self, ConfigError> {
        let mut config = Config::default();
        if value == Value::Null {
            return Ok(config);
        }
        let mut fields = Fields::new(value, "")?;
        if let Some(value) = fields.take("path") {
            config.path =
                PathOptions::read(&Node::root(&value)).map_err(|e| e.nested_in("path"))?;
        }
        if let Some(value) = fields.take("original_path_header") {
            config.original_path_header = match value {
                Value::Null => None,
                value => Some(read_string(value, "original_path_header")?),
            };
        }
        if let Some(value) = fields.take("allowed_methods") {
            config.allowed_methods = read_strings(value, "allowed_methods")?;
        }
        if let Some(value) = fields.take("lowercase_methods") {
            config.lowercase_methods = read_choice(
                value,
                "lowercase_methods",
                &["reject", "uppercase"],
                &[LowercaseMethods::Reject, LowercaseMethods::Uppercase],
            )?;
        }
        if let Some(value) = fields.take("underscores_in_names") {
            config.underscores_in_names = read_choice(
                value,
                "underscores_in_names",
                &["allow", "drop", "reject"],
                &[Underscores::Allow, Underscores::Drop, Underscores::Reject],
            )?;
        }
        if let Some(value) = fields.take("singleton_headers") {
            config.singleton_headers = read_strings(value, "singleton_headers")?;
        }
        if let Some(value) = fields.take("repeated_singletons") {
            config.repeated_singletons = read_choice(
                value,
                "repeated_singletons",
                &["reject", "keep_first"],
                &[RepeatedSingletons::Reject, RepeatedSingletons::KeepFirst],
            )?;
        }
        if let Some(value) = fields.take("strip_hop_by_hop") {
            config.strip_hop_by_hop = read_bool(value, "strip_hop_by_hop")?;
        }
        if let Some(value) = fields.take("internal_headers") {
            config.internal_headers = read_strings(value, "internal_headers")?;
        }
        if let Some(value) = fields.take("trusted_callers") {
            config.trusted_callers = read_list(value, "trusted_callers", read_trusted_caller)?;
        }
        if let Some(value) = fields.take("authority") {
            config.authority = read_authority(value, "authority")?;
        }
        if let Some(value) = fields.take("max_headers") {
            config.max_headers = read_u32(value, "max_headers")?;
        }
        if let Some(value) = fields.take("max_header_bytes") {
            config.max_header_bytes = read_u32(value, "max_header_bytes")?;
        }
        if let Some(value) = fields.take("trim_whitespace") {
            config.trim_whitespace = read_bool(value, "trim_whitespace")?;
        }
        if let Some(value) = fields.take("renames") {
            config.renames = read_list(value, "renames", read_rename)?;
        }
        if let Some(value) = fields.take("allow_weaker_routes") {
            config.allow_weaker_routes = read_bool(value, "allow_weaker_routes")?;
        }
        fields.finish(CONFIG_FIELDS)?;
        Ok(config)
    }
}

fn read_trusted_caller(value: Value, path: &str) -> Result<TrustedCallerConfig, ConfigError> {
    let mut fields = Fields::new(value, path)?;
    let mut caller = TrustedCallerConfig::default();
    if let Some(value) = fields.take("source_cidrs") {
        caller.source_cidrs = read_strings(value, &child(path, "source_cidrs"))?;
    }
    if let Some(value) = fields.take("mtls") {
        caller.mtls = read_bool(value, &child(path, "mtls"))?;
    }
    if let Some(value) = fields.take("peer_uri_sans") {
        caller.peer_uri_sans = read_strings(value, &child(path, "peer_uri_sans"))?;
    }
    fields.finish(&["source_cidrs", "mtls", "peer_uri_sans"])?;
    Ok(caller)
}

fn read_authority(value: Value, path: &str) -> Result<AuthorityConfig, ConfigError> {
    let mut fields = Fields::new(value, path)?;
    let mut authority = AuthorityConfig::default();
    if let Some(value) = fields.take("lowercase") {
        authority.lowercase = read_bool(value, &child(path, "lowercase"))?;
    }
    if let Some(value) = fields.take("strip_port") {
        authority.strip_port = read_choice(
            value,
            &child(path, "strip_port"),
            &["keep", "scheme_default", "matching", "any"],
            &[
                StripPort::Keep,
                StripPort::SchemeDefault,
                StripPort::Matching,
                StripPort::Any,
            ],
        )?;
    }
    if let Some(value) = fields.take("strip_trailing_dot") {
        authority.strip_trailing_dot = read_bool(value, &child(path, "strip_trailing_dot"))?;
    }
    fields.finish(&["lowercase", "strip_port", "strip_trailing_dot"])?;
    Ok(authority)
}

fn read_rename(value: Value, path: &str) -> Result<RenameConfig, ConfigError> {
    let mut fields = Fields::new(value, path)?;
    let from = fields.take("from");
    let to = fields.take("to");
    fields.finish(&["from", "to"])?;
    let required = |value: Option<Value>, name: &str| match value {
        Some(value) => read_string(value, &child(path, name)),
        None => Err(ConfigError::at(path, format!("missing field `{name}`"))),
    };
    Ok(RenameConfig {
        from: required(from, "from")?,
        to: required(to, "to")?,
    })
}

/// The members of a JSON object, taken one by one; what is left at the end is unknown.
struct Fields {
    members: Vec<(String, Value)>,
    path: String,
}

impl Fields {
    fn new(value: Value, path: &str) -> Result<Self, ConfigError> {
        let Value::Object(members) = value else {
            return Err(expected("an object", &value, path));
        };
        for (index, (name, _)) in members.iter().enumerate() {
            if members
                .iter()
                .take(index)
                .any(|(earlier, _)| earlier == name)
            {
                return Err(ConfigError::at(
                    child(path, name),
                    format!("duplicate field `{name}`"),
                ));
            }
        }
        Ok(Self {
            members,
            path: path.to_owned(),
        })
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.members.iter().position(|(key, _)| key == name)?;
        Some(self.members.remove(index).1)
    }

    /// Refuses the first member not taken.
    fn finish(self, known: &[&str]) -> Result<(), ConfigError> {
        match self.members.first() {
            None => Ok(()),
            Some((name, _)) => Err(ConfigError::at(
                child(&self.path, name),
                format!("unknown field `{name}`, expected {}", one_of(known)),
            )),
        }
    }
}

fn read_bool(value: Value, path: &str) -> Result<bool, ConfigError> {
    match value {
        Value::Bool(flag) => Ok(flag),
        other => Err(expected("a boolean", &other, path)),
    }
}

fn read_u32(value: Value, path: &str) -> Result<u32, ConfigError> {
    match value {
        Value::Number(Number::UInt(number)) => {
            u32::try_from(number).map_err(|_| expected("u32", &value, path))
        }
        other => Err(expected("u32", &other, path)),
    }
}

fn read_string(value: Value, path: &str) -> Result<String, ConfigError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(expected("a string", &other, path)),
    }
}

fn read_strings(value: Value, path: &str) -> Result<Vec<String>, ConfigError> {
    read_list(value, path, read_string)
}

fn read_list<T>(
    value: Value,
    path: &str,
    mut read: impl FnMut(Value, &str) -> Result<T, ConfigError>,
) -> Result<Vec<T>, ConfigError> {
    let Value::Array(items) = value else {
        return Err(expected("a sequence", &value, path));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| read(item, &entry_path(path, index, "")))
        .collect()
}

/// The value of `values` at the index of the name in `names` that `value` is.
fn read_choice<T: Copy + Default>(
    value: Value,
    path: &str,
    names: &[&str],
    values: &[T],
) -> Result<T, ConfigError> {
    let index = choose(value, path, names)?;
    Ok(values.get(index).copied().unwrap_or_default())
}

/// The index of the name in `names` that `value` is (one implementation for every type
/// of choice).
fn choose(value: Value, path: &str, names: &[&str]) -> Result<usize, ConfigError> {
    let Value::String(name) = value else {
        return Err(expected("a string", &value, path));
    };
    names
        .iter()
        .position(|choice| *choice == name)
        .ok_or_else(|| {
            ConfigError::at(
                path,
                format!("unknown value `{name}`, expected {}", one_of(names)),
            )
        })
}

/// The JSON path `list[index]rest` of an entry of a list (or of a field in it).
#[inline(never)]
pub(crate) fn entry_path(list: &str, index: usize, rest: &str) -> String {
    format!("{list}[{index}]{rest}")
}

#[inline(never)]
fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

#[inline(never)]
fn expected(what: &str, found: &Value, path: &str) -> ConfigError {
    ConfigError::at(path, format!("expected {what}, found {}", describe(found)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn read(json: &str) -> Result<Config, ConfigError> {
        Config::from_json(json.as_bytes())
    }

    fn error(json: &str) -> String {
        read(json).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_object_or_null_is_the_default() {
        assert_eq!(read("{}").unwrap(), Config::default());
        assert_eq!(read("null").unwrap(), Config::default());
    }

    #[test]
    fn every_field_is_read() {
        let config = read(
            r#"{
            "path": {"escaped_slashes": "unescape_and_redirect", "lowercase": true},
            "original_path_header": "x-original-path",
            "allowed_methods": ["GET"],
            "lowercase_methods": "uppercase",
            "underscores_in_names": "reject",
            "singleton_headers": ["x-tenant"],
            "repeated_singletons": "keep_first",
            "strip_hop_by_hop": false,
            "internal_headers": ["x-internal-*"],
            "trusted_callers": [{"source_cidrs": ["10.0.0.0/8"], "mtls": true,
                                 "peer_uri_sans": ["spiffe://mesh/*"]}],
            "authority": {"lowercase": false, "strip_port": "any", "strip_trailing_dot": false},
            "max_headers": 10,
            "max_header_bytes": 2048,
            "trim_whitespace": false,
            "renames": [{"from": "x_user", "to": "x-user"}],
            "allow_weaker_routes": true
        }"#,
        )
        .unwrap();
        let expected = Config {
            path: PathOptions {
                escaped_slashes: wasmesh_path::EscapedSlashes::UnescapeAndRedirect,
                lowercase: true,
                ..PathOptions::default()
            },
            original_path_header: Some("x-original-path".to_owned()),
            allowed_methods: vec!["GET".to_owned()],
            lowercase_methods: LowercaseMethods::Uppercase,
            underscores_in_names: Underscores::Reject,
            singleton_headers: vec!["x-tenant".to_owned()],
            repeated_singletons: RepeatedSingletons::KeepFirst,
            strip_hop_by_hop: false,
            internal_headers: vec!["x-internal-*".to_owned()],
            trusted_callers: vec![TrustedCallerConfig {
                source_cidrs: vec!["10.0.0.0/8".to_owned()],
                mtls: true,
                peer_uri_sans: vec!["spiffe://mesh/*".to_owned()],
            }],
            authority: AuthorityConfig {
                lowercase: false,
                strip_port: StripPort::Any,
                strip_trailing_dot: false,
            },
            max_headers: 10,
            max_header_bytes: 2048,
            trim_whitespace: false,
            renames: vec![RenameConfig {
                from: "x_user".to_owned(),
                to: "x-user".to_owned(),
            }],
            allow_weaker_routes: true,
        };
        assert_eq!(config, expected);
        let none = read(r#"{"original_path_header": null}"#).unwrap();
        assert_eq!(none.original_path_header, None);
    }

    #[test]
    fn errors_read_like_the_sdk_and_name_the_path() {
        let cases = [
            ("[]", "config: expected an object, found an array"),
            (
                r#"{"strip_hop_by_hop": 1}"#,
                "config.strip_hop_by_hop: expected a boolean, found 1",
            ),
            (
                r#"{"max_headers": -1}"#,
                "config.max_headers: expected u32, found -1",
            ),
            (
                r#"{"max_header_bytes": 4294967296}"#,
                "config.max_header_bytes: expected u32, found 4294967296",
            ),
            (
                r#"{"max_headers": 1.5}"#,
                "config.max_headers: expected u32, found a fractional number",
            ),
            (
                r#"{"allowed_methods": ["GET", 7]}"#,
                "config.allowed_methods[1]: expected a string, found 7",
            ),
            (
                r#"{"allowed_methods": "GET"}"#,
                r#"config.allowed_methods: expected a sequence, found "GET""#,
            ),
            (
                r#"{"lowercase_methods": "lower"}"#,
                "config.lowercase_methods: unknown value `lower`, expected `reject` or `uppercase`",
            ),
            (
                r#"{"underscores_in_names": "keep"}"#,
                "config.underscores_in_names: unknown value `keep`, expected one of `allow`, `drop`, `reject`",
            ),
            (
                r#"{"authority": {"strip_port": "all"}}"#,
                "config.authority.strip_port: unknown value `all`, expected one of `keep`, `scheme_default`, `matching`, `any`",
            ),
            (
                r#"{"authority": {"strip_ports": "any"}}"#,
                "config.authority.strip_ports: unknown field `strip_ports`, expected one of `lowercase`, `strip_port`, `strip_trailing_dot`",
            ),
            (
                r#"{"trusted_callers": [{"mtls": true}, {"mtls": "yes"}]}"#,
                r#"config.trusted_callers[1].mtls: expected a boolean, found "yes""#,
            ),
            (
                r#"{"renames": [{"from": "a"}]}"#,
                "config.renames[0]: missing field `to`",
            ),
            (
                r#"{"renames": [{"from": "a", "to": "b", "as": "c"}]}"#,
                "config.renames[0].as: unknown field `as`, expected `from` or `to`",
            ),
            (
                r#"{"max_headers": 1, "max_headers": 2}"#,
                "config.max_headers: duplicate field `max_headers`",
            ),
            (
                r#"{"path": {"merge": true}}"#,
                "config.path.merge: unknown field `merge`, expected one of `escaped_slashes`, `merge_slashes`, `dot_segment_params`, `path_params`, `fragment`, `lowercase`",
            ),
            (
                r#"{"path": {"fragment": "drop"}}"#,
                "config.path.fragment: unknown value `drop`, expected `reject` or `strip`",
            ),
        ];
        for (json, message) in cases {
            assert_eq!(error(json), message, "{json}");
        }
        assert!(error("{").starts_with("config: invalid JSON at line 1"));
        assert!(error(r#"{"paths": {}}"#).starts_with(
            "config.paths: unknown field `paths`, expected one of `path`, `original_path_header`"
        ));
    }
}
