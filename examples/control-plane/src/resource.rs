//! ECDS resources: a filter version as the `TypedExtensionConfig` Envoy's
//! `config_discovery` receives, wrapping an HTTP `Wasm` filter config.

use envoy_types::pb::envoy::config::core::v3::{
    async_data_source, data_source, AsyncDataSource, DataSource, TypedExtensionConfig,
};
use envoy_types::pb::envoy::extensions::filters::http::wasm::v3::Wasm;
use envoy_types::pb::envoy::extensions::wasm::v3::{
    plugin_config, FailurePolicy as EnvoyFailurePolicy, PluginConfig, VmConfig,
};
use envoy_types::pb::google::protobuf::{Any, StringValue};
use envoy_types::util::pack_any;
use prost::{Message, Name};

use crate::declaration::FailurePolicy;

/// The wasm engine compiled into Envoy.
pub const RUNTIME: &str = "envoy.wasm.runtime.v8";

/// The type URL of ECDS resources (and of the ADS requests for them).
pub fn ecds_type_url() -> String {
    TypedExtensionConfig::type_url()
}

/// Where Envoy gets the module's bytes.
#[derive(Debug, Clone, Copy)]
pub enum Code<'a> {
    /// The bytes travel in the resource.
    Inline(&'a [u8]),
    /// Envoy reads the file; `module_fingerprint` identifies its content, so a
    /// changed file makes a changed resource (Envoy ignores an identical one).
    File {
        /// The absolute path Envoy reads.
        path: &'a str,
        /// [`fingerprint`] of the file's content.
        module_fingerprint: &'a str,
    },
}

/// A resource ready to send, with the fingerprint of its encoded form.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    /// The packed `TypedExtensionConfig`.
    pub any: Any,
    /// [`fingerprint`] of the encoded resource: it changes whenever anything
    /// Envoy receives changes (code, configuration, policy).
    pub fingerprint: String,
}

/// The ECDS resource for the filter `name` running `code` with the JSON
/// configuration `config` under `policy`.
pub fn wasm_filter(name: &str, config: &str, policy: FailurePolicy, code: Code<'_>) -> Resource {
    let (specifier, vm_id) = match code {
        Code::Inline(bytes) => (
            data_source::Specifier::InlineBytes(bytes.to_vec()),
            String::new(),
        ),
        Code::File {
            path,
            module_fingerprint,
        } => (
            data_source::Specifier::Filename(path.to_string()),
            format!("{name}.{module_fingerprint}"),
        ),
    };
    let vm_config = VmConfig {
        vm_id,
        runtime: RUNTIME.to_string(),
        code: Some(AsyncDataSource {
            specifier: Some(async_data_source::Specifier::Local(DataSource {
                specifier: Some(specifier),
                watched_directory: None,
            })),
        }),
        ..Default::default()
    };
    let plugin = PluginConfig {
        name: name.to_string(),
        configuration: Some(pack_any(StringValue {
            value: config.to_string(),
        })),
        failure_policy: envoy_policy(policy) as i32,
        vm: Some(plugin_config::Vm::VmConfig(vm_config)),
        ..Default::default()
    };
    let extension = TypedExtensionConfig {
        name: name.to_string(),
        typed_config: Some(pack_any(Wasm {
            config: Some(plugin),
        })),
    };
    let fingerprint = fingerprint(&extension.encode_to_vec());
    Resource {
        any: pack_any(extension),
        fingerprint,
    }
}

fn envoy_policy(policy: FailurePolicy) -> EnvoyFailurePolicy {
    match policy {
        FailurePolicy::FailClosed => EnvoyFailurePolicy::FailClosed,
        FailurePolicy::FailOpen => EnvoyFailurePolicy::FailOpen,
        FailurePolicy::FailReload => EnvoyFailurePolicy::FailReload,
    }
}

/// A short content fingerprint: FNV-1a 64 in 16 hex digits. It tells versions
/// apart; it is not a cryptographic digest.
pub fn fingerprint(bytes: &[u8]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash = bytes.iter().fold(OFFSET, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    fn decode(resource: &Resource) -> (TypedExtensionConfig, PluginConfig) {
        assert_eq!(resource.any.type_url, ecds_type_url());
        let extension = TypedExtensionConfig::decode(resource.any.value.as_slice()).unwrap();
        let typed = extension.typed_config.clone().unwrap();
        assert_eq!(
            typed.type_url,
            "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
        );
        let wasm = Wasm::decode(typed.value.as_slice()).unwrap();
        (extension, wasm.config.unwrap())
    }

    #[test]
    fn inline_resource_carries_name_config_policy_and_bytes() {
        let resource = wasm_filter(
            "hello",
            r#"{"greeting":"hi"}"#,
            FailurePolicy::FailOpen,
            Code::Inline(b"\0asm"),
        );
        assert_eq!(
            ecds_type_url(),
            "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
        );
        let (extension, plugin) = decode(&resource);
        assert_eq!(extension.name, "hello");
        assert_eq!(plugin.name, "hello");
        assert_eq!(plugin.failure_policy, EnvoyFailurePolicy::FailOpen as i32);
        let configuration = plugin.configuration.unwrap();
        assert_eq!(
            configuration.type_url,
            "type.googleapis.com/google.protobuf.StringValue"
        );
        assert_eq!(
            StringValue::decode(configuration.value.as_slice())
                .unwrap()
                .value,
            r#"{"greeting":"hi"}"#
        );
        let Some(plugin_config::Vm::VmConfig(vm)) = plugin.vm else {
            panic!("no vm config")
        };
        assert_eq!(vm.runtime, RUNTIME);
        assert_eq!(vm.vm_id, "");
        let Some(async_data_source::Specifier::Local(local)) = vm.code.unwrap().specifier else {
            panic!("not local code")
        };
        assert_eq!(
            local.specifier,
            Some(data_source::Specifier::InlineBytes(b"\0asm".to_vec()))
        );
    }

    #[test]
    fn file_resource_names_the_file_and_changes_with_its_content() {
        let code = |module_fingerprint| Code::File {
            path: "/srv/hello.wasm",
            module_fingerprint,
        };
        let one = wasm_filter("hello", "{}", FailurePolicy::FailClosed, code("aaaa"));
        let two = wasm_filter("hello", "{}", FailurePolicy::FailClosed, code("bbbb"));
        assert_ne!(one.fingerprint, two.fingerprint);
        let (_, plugin) = decode(&one);
        let Some(plugin_config::Vm::VmConfig(vm)) = plugin.vm else {
            panic!("no vm config")
        };
        assert_eq!(vm.vm_id, "hello.aaaa");
        let Some(async_data_source::Specifier::Local(local)) = vm.code.unwrap().specifier else {
            panic!("not local code")
        };
        assert_eq!(
            local.specifier,
            Some(data_source::Specifier::Filename("/srv/hello.wasm".into()))
        );
    }

    #[test]
    fn fingerprint_follows_every_input() {
        let base = wasm_filter("h", "{}", FailurePolicy::FailClosed, Code::Inline(b"a"));
        let same = wasm_filter("h", "{}", FailurePolicy::FailClosed, Code::Inline(b"a"));
        assert_eq!(base.fingerprint, same.fingerprint);
        for other in [
            wasm_filter("h", "{}", FailurePolicy::FailClosed, Code::Inline(b"b")),
            wasm_filter("h", "{ }", FailurePolicy::FailClosed, Code::Inline(b"a")),
            wasm_filter("h", "{}", FailurePolicy::FailReload, Code::Inline(b"a")),
            wasm_filter("g", "{}", FailurePolicy::FailClosed, Code::Inline(b"a")),
        ] {
            assert_ne!(base.fingerprint, other.fingerprint);
        }
    }

    #[test]
    fn fnv1a_reference_values() {
        assert_eq!(fingerprint(b""), "cbf29ce484222325");
        assert_eq!(fingerprint(b"a"), "af63dc4c8601ec8c");
    }
}
