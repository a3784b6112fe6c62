//! The Kubernetes manifests in `deploy/` (docs/kubernetes.md): every document matches the
//! upstream API it is written for, and every filter configuration in it is accepted by the
//! filter it is meant for, compiled in the host emulator as Envoy would compile it.
//!
//! The schema is typed Rust written from the published API references, every struct with
//! `deny_unknown_fields` and every enumerated field an enum, so a misspelled field or value
//! (`failStrategy: FAIL_CLOSED`, Envoy's spelling, not Istio's) fails the test instead of being
//! pruned or refused on a cluster. Fields of the APIs that these manifests do not use are left out
//! (noted at each type): using one fails the test until it is added here from the reference. The
//! constraints the references state besides types (patterns, lengths, mutually exclusive fields,
//! the CEL rules of the CRDs) are checked in `check_*`.
//!
//! - Istio `WasmPlugin`, API version `extensions.istio.io/v1alpha1`: the reference
//!   <https://istio.io/latest/docs/reference/config/proxy_extensions/wasm-plugin/>, generated from
//!   istio/api `extensions/v1alpha1/wasm.proto`, with `WorkloadSelector`, `PolicyTargetReference`,
//!   `WorkloadMode` and `PortSelector` from
//!   <https://istio.io/latest/docs/reference/config/type/workload-selector/> (istio/api
//!   `type/v1beta1/selector.proto`).
//! - Envoy Gateway `EnvoyExtensionPolicy`, API version `gateway.envoyproxy.io/v1alpha1`: the
//!   reference <https://gateway.envoyproxy.io/docs/api/extension_types/#envoyextensionpolicy>
//!   (`EnvoyExtensionPolicySpec`, `Wasm`, `WasmCodeSource`, `HTTPWasmCodeSource`,
//!   `ImageWasmCodeSource`, `WasmEnv`), generated from envoyproxy/gateway
//!   `api/v1alpha1/envoyextensionypolicy_types.go` and `wasm_types.go`; target references are
//!   Gateway API's `LocalPolicyTargetReferenceWithSectionName` and `SecretObjectReference`
//!   (<https://gateway-api.sigs.k8s.io/reference/spec/>).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Schema fields that only the deserializer reads are the point: an unknown one is an error.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use wasmesh_testing::{Host, Module};

// ---------------------------------------------------------------------------------------------
// Kubernetes object metadata (the part of `ObjectMeta` a manifest sets).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectMeta {
    name: String,
    namespace: Option<String>,
    labels: Option<BTreeMap<String, String>>,
    annotations: Option<BTreeMap<String, String>>,
}

// ---------------------------------------------------------------------------------------------
// Istio `WasmPlugin`, extensions.istio.io/v1alpha1. Not modeled: `targetRef` and
// `verificationKey`, which the reference hides (`$hide_from_docs`).

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WasmPlugin {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: WasmPluginSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WasmPluginSpec {
    selector: Option<WorkloadSelector>,
    target_refs: Option<Vec<IstioPolicyTargetReference>>,
    url: String,
    sha256: Option<String>,
    image_pull_policy: Option<PullPolicy>,
    image_pull_secret: Option<String>,
    /// `google.protobuf.Struct`: a JSON object (checked in `check_wasm_plugin`).
    plugin_config: Option<Yaml>,
    plugin_name: Option<String>,
    phase: Option<PluginPhase>,
    priority: Option<i32>,
    fail_strategy: Option<FailStrategy>,
    vm_config: Option<VmConfig>,
    #[serde(rename = "match")]
    match_: Option<Vec<TrafficSelector>>,
    #[serde(rename = "type")]
    type_: Option<PluginType>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WorkloadSelector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IstioPolicyTargetReference {
    #[serde(default)]
    group: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum PullPolicy {
    #[serde(rename = "UNSPECIFIED_POLICY")]
    Unspecified,
    IfNotPresent,
    Always,
}

/// In the order Istio places the phases in a filter chain.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PluginPhase {
    #[serde(rename = "AUTHN")]
    Authn,
    #[serde(rename = "AUTHZ")]
    Authz,
    #[serde(rename = "STATS")]
    Stats,
    /// "Control plane decides where to insert the plugin. This will generally be at the end of
    /// the filter chain, right before the Router."
    #[serde(rename = "UNSPECIFIED_PHASE")]
    Unspecified,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum FailStrategy {
    #[serde(rename = "FAIL_CLOSE")]
    Close,
    #[serde(rename = "FAIL_OPEN")]
    Open,
    #[serde(rename = "FAIL_RELOAD")]
    Reload,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VmConfig {
    env: Option<Vec<EnvVar>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvVar {
    name: String,
    value_from: Option<EnvValueSource>,
    value: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum EnvValueSource {
    #[serde(rename = "INLINE")]
    Inline,
    #[serde(rename = "HOST")]
    Host,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficSelector {
    mode: Option<WorkloadMode>,
    ports: Option<Vec<PortSelector>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum WorkloadMode {
    #[serde(rename = "UNDEFINED")]
    Undefined,
    /// Outbound; also every gateway.
    #[serde(rename = "CLIENT")]
    Client,
    /// Inbound.
    #[serde(rename = "SERVER")]
    Server,
    #[serde(rename = "CLIENT_AND_SERVER")]
    ClientAndServer,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PortSelector {
    number: u32,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum PluginType {
    #[serde(rename = "UNSPECIFIED_PLUGIN_TYPE")]
    Unspecified,
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "NETWORK")]
    Network,
}

// ---------------------------------------------------------------------------------------------
// Envoy Gateway `EnvoyExtensionPolicy`, gateway.envoyproxy.io/v1alpha1. Not modeled:
// `targetSelectors`, `extProc`, `lua` (and, in releases that have them, `mergeType`, `backends`,
// `dynamicModule`), and the not-implemented `tls` of code sources.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvoyExtensionPolicy {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: EnvoyExtensionPolicySpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EnvoyExtensionPolicySpec {
    /// Deprecated upstream in favour of `targetRefs`, still accepted.
    target_ref: Option<LocalPolicyTargetReference>,
    target_refs: Option<Vec<LocalPolicyTargetReference>>,
    wasm: Option<Vec<Wasm>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LocalPolicyTargetReference {
    group: String,
    kind: String,
    name: String,
    section_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Wasm {
    name: Option<String>,
    #[serde(rename = "rootID")]
    root_id: Option<String>,
    code: WasmCodeSource,
    /// `apiextensionsv1.JSON`: passed to the module as a JSON string.
    config: Option<Yaml>,
    fail_open: Option<bool>,
    env: Option<WasmEnv>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WasmCodeSource {
    #[serde(rename = "type")]
    type_: WasmCodeSourceType,
    http: Option<HttpWasmCodeSource>,
    image: Option<ImageWasmCodeSource>,
    pull_policy: Option<ImagePullPolicy>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum WasmCodeSourceType {
    #[serde(rename = "HTTP")]
    Http,
    Image,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpWasmCodeSource {
    url: String,
    sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImageWasmCodeSource {
    url: String,
    sha256: Option<String>,
    pull_secret_ref: Option<SecretObjectReference>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretObjectReference {
    group: Option<String>,
    kind: Option<String>,
    name: String,
    namespace: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
enum ImagePullPolicy {
    IfNotPresent,
    Always,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WasmEnv {
    host_keys: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------------------------
// Reading the manifests.

const ISTIO_API_VERSION: &str = "extensions.istio.io/v1alpha1";
const GATEWAY_API_VERSION: &str = "gateway.envoyproxy.io/v1alpha1";

/// The files `deploy/` must hold; a file added or removed must be listed here.
const ISTIO_FILES: [&str; 5] = [
    "access-control.yaml",
    "header-normalization.yaml",
    "service-metrics.yaml",
    "trace-propagation.yaml",
    "wasmesh.yaml",
];
const GATEWAY_FILES: [&str; 2] = ["filters.yaml", "wasmesh.yaml"];

/// The modules `make images` packages, each `wasmesh/<module>` in the registry.
const MODULES: [&str; 5] = [
    "header-normalization",
    "access-control",
    "trace-propagation",
    "service-metrics",
    "wasmesh",
];

/// The order of the filters in a chain (docs/configuration.md).
const FILTER_ORDER: [&str; 4] = [
    "header-normalization",
    "access-control",
    "trace-propagation",
    "service-metrics",
];

enum Manifest {
    Istio(WasmPlugin),
    Gateway(EnvoyExtensionPolicy),
}

/// One document of a file, named `file#index` in messages.
struct Document {
    name: String,
    manifest: Manifest,
}

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// The YAML documents of a text.
fn yaml_documents(text: &str) -> Result<Vec<Yaml>, String> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| Yaml::deserialize(document).map_err(|e| e.to_string()))
        .collect()
}

/// A document typed by its `apiVersion` and `kind`; anything else is an error.
fn parse_manifest(document: Yaml) -> Result<Manifest, String> {
    let field = |key: &str| document.get(key).and_then(Yaml::as_str).map(str::to_owned);
    match (field("apiVersion").as_deref(), field("kind").as_deref()) {
        (Some(ISTIO_API_VERSION), Some("WasmPlugin")) => serde_norway::from_value(document)
            .map(Manifest::Istio)
            .map_err(|e| format!("WasmPlugin: {e}")),
        (Some(GATEWAY_API_VERSION), Some("EnvoyExtensionPolicy")) => {
            serde_norway::from_value(document)
                .map(Manifest::Gateway)
                .map_err(|e| format!("EnvoyExtensionPolicy: {e}"))
        }
        (api_version, kind) => Err(format!(
            "unexpected apiVersion {api_version:?} and kind {kind:?}"
        )),
    }
}

/// Every document of a manifest file, parsed and checked against its API.
fn parse_file(name: &str, text: &str) -> Result<Vec<Document>, String> {
    let documents = yaml_documents(text).map_err(|e| format!("{name}: {e}"))?;
    if documents.is_empty() {
        return Err(format!("{name}: no document"));
    }
    documents
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            let name = format!("{name}#{index}");
            let manifest = parse_manifest(document).map_err(|e| format!("{name}: {e}"))?;
            match &manifest {
                Manifest::Istio(plugin) => check_wasm_plugin(plugin),
                Manifest::Gateway(policy) => check_extension_policy(policy),
            }
            .map_err(|e| format!("{name}: {e}"))?;
            Ok(Document { name, manifest })
        })
        .collect()
}

/// The documents of `deploy/<dir>/`, which must be exactly `expected`.
fn load_dir(dir: &str, expected: &[&str]) -> Vec<Document> {
    let path = deploy_dir().join(dir);
    let mut found: Vec<String> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, expected, "files in deploy/{dir}");
    expected
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(path.join(file)).unwrap();
            parse_file(&format!("{dir}/{file}"), &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

fn istio_documents() -> Vec<Document> {
    load_dir("istio", &ISTIO_FILES)
}

fn gateway_documents() -> Vec<Document> {
    load_dir("envoy-gateway", &GATEWAY_FILES)
}

fn plugins(documents: &[Document]) -> impl Iterator<Item = (&str, &WasmPlugin)> {
    documents.iter().filter_map(|d| match &d.manifest {
        Manifest::Istio(plugin) => Some((d.name.as_str(), plugin)),
        Manifest::Gateway(_) => None,
    })
}

fn policies(documents: &[Document]) -> impl Iterator<Item = (&str, &EnvoyExtensionPolicy)> {
    documents.iter().filter_map(|d| match &d.manifest {
        Manifest::Gateway(policy) => Some((d.name.as_str(), policy)),
        Manifest::Istio(_) => None,
    })
}

// ---------------------------------------------------------------------------------------------
// What the references state besides types.

fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

/// An RFC 1123 DNS subdomain, as Kubernetes requires of object names.
fn check_metadata(metadata: &ObjectMeta) -> Result<(), String> {
    let name = &metadata.name;
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    check(name.len() <= 253 && name.split('.').all(label_ok), || {
        format!("metadata.name `{name}` is not a DNS subdomain")
    })?;
    if let Some(namespace) = &metadata.namespace {
        check(namespace.len() <= 63 && label_ok(namespace), || {
            format!("metadata.namespace `{namespace}` is not a DNS label")
        })?;
    }
    Ok(())
}

fn is_hex_digest(value: &str) -> bool {
    value.len() == 64
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_wasm_plugin(plugin: &WasmPlugin) -> Result<(), String> {
    check(plugin.api_version == ISTIO_API_VERSION, || {
        format!("apiVersion `{}`", plugin.api_version)
    })?;
    check(plugin.kind == "WasmPlugin", || {
        format!("kind `{}`", plugin.kind)
    })?;
    check_metadata(&plugin.metadata)?;
    let spec = &plugin.spec;
    // "only one of targetRefs or selector can be set"
    check(
        spec.selector.is_none() || spec.target_refs.is_none(),
        || "spec: both selector and targetRefs".to_owned(),
    )?;
    if let Some(selector) = &spec.selector {
        check(!selector.match_labels.is_empty(), || {
            "spec.selector.matchLabels is empty".to_owned()
        })?;
    }
    if let Some(refs) = &spec.target_refs {
        check(refs.len() <= 16, || {
            "spec.targetRefs: more than 16".to_owned()
        })?;
    }
    // "url must have schema one of [http, https, file, oci]"; no scheme means oci.
    check(!spec.url.is_empty(), || "spec.url is empty".to_owned())?;
    if let Some((scheme, _)) = spec.url.split_once("://") {
        check(["http", "https", "file", "oci"].contains(&scheme), || {
            format!("spec.url: scheme `{scheme}`")
        })?;
    }
    // Pattern `(^$|^[a-f0-9]{64}$)`. The manifests' placeholder is checked in
    // `check_digest`; a cluster refuses it until it is filled in.
    if let Some(sha256) = &spec.sha256 {
        check(
            sha256.is_empty() || is_hex_digest(sha256) || sha256.starts_with(PLACEHOLDER),
            || format!("spec.sha256 `{sha256}`"),
        )?;
    }
    if let Some(secret) = &spec.image_pull_secret {
        check((1..=253).contains(&secret.len()), || {
            "spec.imagePullSecret: 1 to 253 characters".to_owned()
        })?;
    }
    if let Some(config) = &spec.plugin_config {
        check(config.is_mapping(), || {
            "spec.pluginConfig is not an object".to_owned()
        })?;
        serde_json::to_value(config).map_err(|e| format!("spec.pluginConfig: {e}"))?;
    }
    if let Some(name) = &spec.plugin_name {
        check((1..=256).contains(&name.len()), || {
            "spec.pluginName: 1 to 256 characters".to_owned()
        })?;
    }
    if let Some(env) = spec.vm_config.as_ref().and_then(|vm| vm.env.as_ref()) {
        check(env.len() <= 256, || {
            "spec.vmConfig.env: more than 256".to_owned()
        })?;
        for var in env {
            check((1..=256).contains(&var.name.len()), || {
                "spec.vmConfig.env[].name: 1 to 256 characters".to_owned()
            })?;
            // "value may only be set when valueFrom is INLINE"
            check(
                var.value_from != Some(EnvValueSource::Host) || var.value.is_none(),
                || format!("spec.vmConfig.env `{}`: value with HOST", var.name),
            )?;
        }
    }
    Ok(())
}

fn check_target_ref(target: &LocalPolicyTargetReference) -> Result<(), String> {
    check(target.group == "gateway.networking.k8s.io", || {
        format!("target group `{}`", target.group)
    })?;
    check(
        [
            "Gateway",
            "HTTPRoute",
            "GRPCRoute",
            "UDPRoute",
            "TCPRoute",
            "TLSRoute",
        ]
        .contains(&target.kind.as_str()),
        || format!("target kind `{}`", target.kind),
    )?;
    check(!target.name.is_empty(), || {
        "target name is empty".to_owned()
    })
}

fn check_extension_policy(policy: &EnvoyExtensionPolicy) -> Result<(), String> {
    check(policy.api_version == GATEWAY_API_VERSION, || {
        format!("apiVersion `{}`", policy.api_version)
    })?;
    check(policy.kind == "EnvoyExtensionPolicy", || {
        format!("kind `{}`", policy.kind)
    })?;
    check_metadata(&policy.metadata)?;
    let spec = &policy.spec;
    // "either targetRef or targetRefs must be used"
    check(
        spec.target_ref.is_some() != spec.target_refs.is_some(),
        || "spec: exactly one of targetRef and targetRefs".to_owned(),
    )?;
    for target in spec
        .target_ref
        .iter()
        .chain(spec.target_refs.iter().flatten())
    {
        check_target_ref(target)?;
    }
    let wasm = spec.wasm.as_deref().unwrap_or_default();
    check(wasm.len() <= 16, || "spec.wasm: more than 16".to_owned())?;
    for extension in wasm {
        let code = &extension.code;
        // "If type is HTTP, http field needs to be set." and the same for Image.
        check(
            (code.type_ == WasmCodeSourceType::Http) == code.http.is_some()
                && (code.type_ == WasmCodeSourceType::Image) == code.image.is_some(),
            || {
                format!(
                    "spec.wasm.code: type {:?} with the other source",
                    code.type_
                )
            },
        )?;
        if let Some(secret) = code.image.as_ref().and_then(|i| i.pull_secret_ref.as_ref()) {
            // "only support Secret kind."
            check(
                secret.kind.as_deref().unwrap_or("Secret") == "Secret",
                || "spec.wasm.code.image.pullSecretRef: not a Secret".to_owned(),
            )?;
        }
        if let Some(config) = &extension.config {
            // The configuration travels as JSON: its keys must be strings.
            serde_json::to_value(config).map_err(|e| format!("spec.wasm.config: {e}"))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// What these manifests promise besides the APIs.

/// The placeholder a manifest's `sha256` holds until the image's digest is filled in:
/// `DIGEST_OF_<module>` (docs/kubernetes.md).
const PLACEHOLDER: &str = "DIGEST_OF_";

/// The module an image URL names: `[oci://]registry.example.com/wasmesh/<module>:<version>`,
/// the tag being this workspace's version.
fn module_of_url(url: &str) -> Result<&'static str, String> {
    let reference = url.strip_prefix("oci://").unwrap_or(url);
    let (repository, tag) = reference
        .rsplit_once(':')
        .ok_or_else(|| format!("`{url}`: no tag"))?;
    check(tag == env!("CARGO_PKG_VERSION"), || {
        format!(
            "`{url}`: tag `{tag}`, the workspace is {}",
            env!("CARGO_PKG_VERSION")
        )
    })?;
    let (registry, image) = repository
        .split_once('/')
        .ok_or_else(|| format!("`{url}`: no registry"))?;
    check(registry.contains('.'), || {
        format!("`{url}`: `{registry}` is not a registry host")
    })?;
    MODULES
        .iter()
        .find(|module| image.strip_prefix("wasmesh/") == Some(module))
        .copied()
        .ok_or_else(|| format!("`{url}`: `{image}` is not wasmesh/<module>"))
}

/// A `sha256` is a digest (64 lowercase hex digits) or the placeholder naming the module.
fn check_digest(module: &str, sha256: Option<&str>) -> Result<(), String> {
    let sha256 = sha256.ok_or_else(|| format!("{module}: no sha256"))?;
    check(
        is_hex_digest(sha256) || sha256 == format!("{PLACEHOLDER}{module}"),
        || format!("{module}: sha256 `{sha256}` is neither a digest nor {PLACEHOLDER}{module}"),
    )
}

/// Words YAML 1.1 reads as booleans. Kubernetes reads manifests that way, so such a word left
/// unquoted in a filter configuration reaches the filter as `true` or `false`, while this
/// test's YAML 1.2 parser reads a string; neither is what the configuration meant.
fn check_yaml11_words(path: &str, value: &Yaml) -> Result<(), String> {
    const WORDS: [&str; 8] = ["y", "yes", "n", "no", "on", "off", "true", "false"];
    match value {
        Yaml::String(s) => check(!WORDS.contains(&s.to_ascii_lowercase().as_str()), || {
            format!("{path}: `{s}` is a boolean for Kubernetes")
        }),
        Yaml::Sequence(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_yaml11_words(&format!("{path}[{i}]"), item)),
        Yaml::Mapping(map) => map.iter().try_for_each(|(key, item)| {
            let key = key.as_str().unwrap_or("?");
            check_yaml11_words(key, &Yaml::String(key.to_owned()))?;
            check_yaml11_words(&format!("{path}.{key}"), item)
        }),
        _ => Ok(()),
    }
}

/// A filter configuration as JSON text, numbers as written.
fn config_json(path: &str, config: &Yaml) -> Result<String, String> {
    check_yaml11_words(path, config)?;
    let json: Json = serde_json::to_value(config).map_err(|e| format!("{path}: {e}"))?;
    check(json.is_object(), || format!("{path}: not an object"))?;
    Ok(json.to_string())
}

/// A configuration as the proxy receives it from Kubernetes: `kubectl` turns YAML into JSON
/// through float64 numbers, and Istio's `pluginConfig` is a `google.protobuf.Struct`, whose
/// numbers are doubles too; both write a whole number without a fraction (`1.0` arrives as
/// `1`).
fn as_kubernetes_renders(json: &str) -> String {
    fn render(value: Json) -> Json {
        match value {
            Json::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                    Json::from(f as i64)
                }
                _ => Json::Number(n),
            },
            Json::Array(items) => Json::Array(items.into_iter().map(render).collect()),
            Json::Object(map) => {
                Json::Object(map.into_iter().map(|(k, v)| (k, render(v))).collect())
            }
            other => other,
        }
    }
    render(serde_json::from_str(json).unwrap()).to_string()
}

/// Configures `module` in the emulator, as Envoy does when it creates the filter; the error
/// holds the filter's log lines.
fn compile(module: &str, json: &str) -> Result<(), String> {
    let filter = match module {
        "header-normalization" => Module::of::<header_normalization::HeaderNormalization>(),
        "access-control" => Module::of::<access_control::AccessControl>(),
        "trace-propagation" => Module::of::<trace_propagation::TracePropagation>(),
        "service-metrics" => Module::of::<service_metrics::ServiceMetrics>(),
        "wasmesh" => Module::of::<wasmesh::WasmeshChain>(),
        other => return Err(format!("no filter `{other}`")),
    };
    let host = Host::load(filter);
    if host.configure(json) {
        Ok(())
    } else {
        Err(format!("{module} refused {json}: {:?}", host.logs()))
    }
}

/// Each filter configuration of the documents, with the module it is for and where it is.
fn configurations(documents: &[Document]) -> Vec<(String, &'static str, &Yaml)> {
    let istio = plugins(documents).map(|(name, plugin)| {
        let config = plugin
            .spec
            .plugin_config
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no pluginConfig"));
        (
            format!("{name}: pluginConfig"),
            module_of_url(&plugin.spec.url).unwrap(),
            config,
        )
    });
    let gateway = policies(documents).flat_map(|(name, policy)| {
        policy
            .spec
            .wasm
            .iter()
            .flatten()
            .enumerate()
            .map(move |(i, wasm)| {
                let config = wasm
                    .config
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: wasm[{i}] has no config"));
                (
                    format!("{name}: wasm[{i}].config"),
                    module_of_url(&wasm.code.image.as_ref().unwrap().url).unwrap(),
                    config,
                )
            })
    });
    istio.chain(gateway).collect()
}

/// The modes a plugin applies to: `match` absent, or a selector without mode, is both.
fn modes(plugin: &WasmPlugin) -> Vec<WorkloadMode> {
    let selectors = plugin.spec.match_.as_deref().unwrap_or_default();
    if selectors.is_empty() {
        return vec![WorkloadMode::ClientAndServer];
    }
    selectors
        .iter()
        .map(|s| s.mode.unwrap_or(WorkloadMode::ClientAndServer))
        .collect()
}

fn applies_to(plugin: &WasmPlugin, mode: WorkloadMode) -> bool {
    modes(plugin)
        .iter()
        .any(|m| *m == mode || matches!(m, WorkloadMode::ClientAndServer | WorkloadMode::Undefined))
}

/// The modules of per-filter plugins in the order Istio runs them on `mode` traffic: by phase,
/// then by descending priority. Two plugins of one phase with one priority are an error: Istio
/// would order them by name.
fn istio_order<'a>(
    plugins: impl Iterator<Item = (&'a str, &'a WasmPlugin)>,
    mode: WorkloadMode,
) -> Result<Vec<&'static str>, String> {
    let mut placed: Vec<(PluginPhase, i32, &'static str)> = plugins
        .filter(|(_, plugin)| applies_to(plugin, mode))
        .map(|(_, plugin)| {
            let spec = &plugin.spec;
            let module = module_of_url(&spec.url)?;
            Ok((
                spec.phase.unwrap_or(PluginPhase::Unspecified),
                spec.priority.unwrap_or(0),
                module,
            ))
        })
        .collect::<Result<_, String>>()?;
    placed.sort_by_key(|&(phase, priority, _)| (phase, std::cmp::Reverse(priority)));
    for pair in placed.windows(2) {
        check(pair[0].0 != pair[1].0 || pair[0].1 != pair[1].1, || {
            format!(
                "{} and {} share phase {:?} and priority {}",
                pair[0].2, pair[1].2, pair[0].0, pair[0].1
            )
        })?;
    }
    Ok(placed.into_iter().map(|(_, _, module)| module).collect())
}

fn is_bundle(plugin: &WasmPlugin) -> bool {
    module_of_url(&plugin.spec.url) == Ok("wasmesh")
}

/// The stage names of a bundle configuration, in order.
fn chain_stages(config: &Yaml) -> Vec<(String, Option<&Yaml>)> {
    config
        .get("chain")
        .and_then(Yaml::as_sequence)
        .expect("a bundle configuration has a chain")
        .iter()
        .map(|stage| {
            let name = stage.get("name").and_then(Yaml::as_str).unwrap();
            (name.to_owned(), stage.get("config"))
        })
        .collect()
}

/// A filter whose failure must not let requests through: header-normalization,
/// access-control, or a bundle running either.
fn protects(module: &str, config: &Yaml) -> bool {
    match module {
        "header-normalization" | "access-control" => true,
        "wasmesh" => chain_stages(config)
            .iter()
            .any(|(stage, _)| stage == "header-normalization" || stage == "access-control"),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// Every document of every file in `deploy/` is an API object this file models, with only the
/// fields and values its reference defines, and within the reference's constraints.
#[test]
fn every_manifest_matches_its_upstream_schema() {
    let istio = istio_documents();
    assert_eq!(plugins(&istio).count(), istio.len());
    // The per-filter files, plus a second direction for service-metrics and the bundle.
    assert_eq!(istio.len(), 7);
    let gateway = gateway_documents();
    assert_eq!(policies(&gateway).count(), gateway.len());
    assert_eq!(gateway.len(), 2);

    let mut names: Vec<(&str, &str)> = plugins(&istio)
        .map(|(_, p)| ("WasmPlugin", p.metadata.name.as_str()))
        .chain(policies(&gateway).map(|(_, p)| ("EnvoyExtensionPolicy", p.metadata.name.as_str())))
        .collect();
    let count = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "two objects share a kind and name");

    for (name, plugin) in plugins(&istio) {
        assert_eq!(plugin.spec.type_, Some(PluginType::Http), "{name}");
        assert!(
            plugin.spec.url.starts_with("oci://"),
            "{name}: {}",
            plugin.spec.url
        );
        assert!(
            plugin.spec.selector.is_some(),
            "{name}: sidecars are selected by labels"
        );
    }
    for (name, policy) in policies(&gateway) {
        for wasm in policy.spec.wasm.iter().flatten() {
            assert_eq!(wasm.code.type_, WasmCodeSourceType::Image, "{name}");
        }
    }
}

/// Images are `wasmesh/<module>` at this workspace's version, and every `sha256` is a digest or
/// the placeholder naming its module; Istio's `pluginName` and Envoy Gateway's `name` are the
/// module.
#[test]
fn images_and_digests_follow_the_documented_form() {
    for (name, plugin) in plugins(&istio_documents()) {
        let module = module_of_url(&plugin.spec.url).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_digest(module, plugin.spec.sha256.as_deref())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(plugin.spec.plugin_name.as_deref(), Some(module), "{name}");
    }
    for (name, policy) in policies(&gateway_documents()) {
        for wasm in policy.spec.wasm.iter().flatten() {
            let image = wasm.code.image.as_ref().unwrap();
            let module = module_of_url(&image.url).unwrap_or_else(|e| panic!("{name}: {e}"));
            check_digest(module, image.sha256.as_deref()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(wasm.name.as_deref(), Some(module), "{name}");
        }
    }
}

/// Every `pluginConfig` and `config`, turned into JSON as written and as Kubernetes renders it,
/// is accepted by the filter its image holds.
#[test]
fn every_plugin_config_compiles_in_its_filter() {
    let istio = istio_documents();
    let gateway = gateway_documents();
    let configurations: Vec<_> = configurations(&istio)
        .into_iter()
        .chain(configurations(&gateway))
        .collect();
    assert_eq!(configurations.len(), 7 + 4);
    for (path, module, config) in configurations {
        let json = config_json(&path, config).unwrap_or_else(|e| panic!("{e}"));
        compile(module, &json).unwrap_or_else(|e| panic!("{path}: {e}"));
        compile(module, &as_kubernetes_renders(&json)).unwrap_or_else(|e| panic!("{path}: {e}"));
        if module == "wasmesh" {
            // Each stage alone too, so a refusal names the filter.
            for (stage, stage_config) in chain_stages(config) {
                let json = stage_config.map_or(Ok("{}".to_owned()), |c| config_json(&path, c));
                compile(&stage, &json.unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
    }
}

/// On a sidecar's inbound traffic the per-filter plugins run header-normalization,
/// access-control, trace-propagation, service-metrics; outbound, trace-propagation then
/// service-metrics. access-control runs in AUTHZ, before Istio's own authorization, and only
/// inbound; header-normalization first of all, in AUTHN.
#[test]
fn istio_plugins_run_in_the_recommended_order() {
    let istio = istio_documents();
    let per_filter = || plugins(&istio).filter(|(_, p)| !is_bundle(p));
    assert_eq!(
        istio_order(per_filter(), WorkloadMode::Server).unwrap(),
        FILTER_ORDER
    );
    assert_eq!(
        istio_order(per_filter(), WorkloadMode::Client).unwrap(),
        ["trace-propagation", "service-metrics"]
    );
    for (name, plugin) in per_filter() {
        match module_of_url(&plugin.spec.url).unwrap() {
            "header-normalization" => {
                assert_eq!(plugin.spec.phase, Some(PluginPhase::Authn), "{name}");
                let highest = plugins(&istio).filter_map(|(_, p)| p.spec.priority).max();
                assert_eq!(plugin.spec.priority, highest, "{name}");
            }
            "access-control" => {
                assert_eq!(plugin.spec.phase, Some(PluginPhase::Authz), "{name}");
                assert_eq!(modes(plugin), [WorkloadMode::Server], "{name}");
            }
            _ => {}
        }
    }
    // The bundle's stages are in the same order, and access-control only inbound.
    for (name, plugin) in plugins(&istio).filter(|(_, p)| is_bundle(p)) {
        let config = plugin.spec.plugin_config.as_ref().unwrap();
        let stages: Vec<String> = chain_stages(config).into_iter().map(|(s, _)| s).collect();
        let expected: Vec<&str> = FILTER_ORDER
            .into_iter()
            .filter(|f| stages.iter().any(|s| s == f))
            .collect();
        assert_eq!(stages, expected, "{name}");
        if stages.iter().any(|s| s == "access-control") {
            assert_eq!(modes(plugin), [WorkloadMode::Server], "{name}");
            assert_eq!(plugin.spec.phase, Some(PluginPhase::Authn), "{name}");
        }
    }
}

/// A stage of the Istio bundle is configured exactly as the per-filter plugin for the same
/// traffic, so the two ways of deploying cannot drift apart.
#[test]
fn the_istio_bundle_matches_the_per_filter_plugins() {
    let istio = istio_documents();
    for (name, bundle) in plugins(&istio).filter(|(_, p)| is_bundle(p)) {
        let mode = modes(bundle)[0];
        let config = bundle.spec.plugin_config.as_ref().unwrap();
        for (stage, stage_config) in chain_stages(config) {
            let twins: Vec<&WasmPlugin> = plugins(&istio)
                .map(|(_, p)| p)
                .filter(|p| module_of_url(&p.spec.url) == Ok(stage.as_str()))
                .filter(|p| applies_to(p, mode))
                .collect();
            assert_eq!(twins.len(), 1, "{name}: {stage} for {mode:?}");
            assert_eq!(
                stage_config,
                twins[0].spec.plugin_config.as_ref(),
                "{name}: {stage}"
            );
        }
    }
}

/// header-normalization and access-control (alone or in a bundle) fail closed: a module that
/// cannot be fetched or fails refuses requests instead of letting them through.
#[test]
fn protective_filters_fail_closed() {
    for (name, plugin) in plugins(&istio_documents()) {
        let module = module_of_url(&plugin.spec.url).unwrap();
        let config = plugin.spec.plugin_config.as_ref().unwrap();
        if protects(module, config) {
            assert_eq!(
                plugin.spec.fail_strategy,
                Some(FailStrategy::Close),
                "{name}"
            );
        } else {
            assert_eq!(
                plugin.spec.fail_strategy,
                Some(FailStrategy::Open),
                "{name}"
            );
        }
    }
    for (name, policy) in policies(&gateway_documents()) {
        for wasm in policy.spec.wasm.iter().flatten() {
            let module = module_of_url(&wasm.code.image.as_ref().unwrap().url).unwrap();
            let protective = protects(module, wasm.config.as_ref().unwrap());
            assert_eq!(wasm.fail_open, Some(!protective), "{name}: {module}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checks can fail.

/// One change to a real manifest's text, which must be there to change.
fn edited(dir: &str, file: &str, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(deploy_dir().join(dir).join(file)).unwrap();
    assert!(text.contains(from), "{dir}/{file} has no `{from}`");
    text.replacen(from, to, 1)
}

#[test]
fn misspelled_fields_and_enum_values_are_refused() {
    let cases = [
        // Envoy's spelling of the value, not Istio's.
        (
            "istio",
            "access-control.yaml",
            "failStrategy: FAIL_CLOSE",
            "failStrategy: FAIL_CLOSED",
        ),
        (
            "istio",
            "access-control.yaml",
            "phase: AUTHZ",
            "phase: AUTHORIZATION",
        ),
        (
            "istio",
            "access-control.yaml",
            "pluginConfig:",
            "pluginconfig:",
        ),
        (
            "istio",
            "access-control.yaml",
            "mode: SERVER",
            "mode: INBOUND",
        ),
        ("istio", "access-control.yaml", "matchLabels:", "labels:"),
        (
            "istio",
            "access-control.yaml",
            "priority: 100",
            "priority: high",
        ),
        (
            "istio",
            "header-normalization.yaml",
            "url: oci://",
            "url: ftp://",
        ),
        (
            "istio",
            "wasmesh.yaml",
            "imagePullPolicy: IfNotPresent",
            "imagePullPolicy: Never",
        ),
        ("istio", "service-metrics.yaml", "v1alpha1", "v1beta1"),
        ("envoy-gateway", "wasmesh.yaml", "type: Image", "type: OCI"),
        (
            "envoy-gateway",
            "wasmesh.yaml",
            "failOpen: false",
            "failopen: false",
        ),
        ("envoy-gateway", "wasmesh.yaml", "rootID:", "rootId:"),
        (
            "envoy-gateway",
            "wasmesh.yaml",
            "kind: HTTPRoute",
            "kind: Service",
        ),
        ("envoy-gateway", "filters.yaml", "image:", "oci:"),
        (
            "envoy-gateway",
            "filters.yaml",
            "failOpen: true",
            "failOpen: maybe",
        ),
    ];
    for (dir, file, from, to) in cases {
        let text = edited(dir, file, from, to);
        assert!(
            parse_file(file, &text).is_err(),
            "{dir}/{file} with `{to}` for `{from}` was accepted"
        );
    }
}

#[test]
fn a_broken_plugin_config_is_refused() {
    let cases = [
        ("access-control.yaml", "action: allow", "action: permit"),
        (
            "access-control.yaml",
            "service_name: istio_service_account",
            "service_name: account",
        ),
        (
            "header-normalization.yaml",
            "repeated_singletons:",
            "repeated_singleton:",
        ),
        (
            "trace-propagation.yaml",
            "probability: 1.0",
            "probability: 1.5",
        ),
        (
            "service-metrics.yaml",
            "direction: inbound",
            "direction: sideways",
        ),
        (
            "wasmesh.yaml",
            "- name: access-control",
            "- name: access-controller",
        ),
    ];
    for (file, from, to) in cases {
        let text = edited("istio", file, from, to);
        let documents = parse_file(file, &text).unwrap();
        let refused = configurations(&documents)
            .into_iter()
            .any(|(path, module, config)| {
                compile(module, &config_json(&path, config).unwrap()).is_err()
            });
        assert!(refused, "istio/{file} with `{to}` compiled");
    }
    // A YAML 1.1 boolean word is caught before it reaches a filter.
    let text = edited(
        "istio",
        "trace-propagation.yaml",
        "trust_boundary: continue",
        "trust_boundary: on",
    );
    let documents = parse_file("trace-propagation.yaml", &text).unwrap();
    let (path, _, config) = &configurations(&documents)[0];
    assert!(config_json(path, config).is_err());
}

#[test]
fn wrong_images_digests_and_orders_are_caught() {
    assert!(module_of_url("oci://registry.example.com/wasmesh/access-control:0.0.1").is_err());
    assert!(module_of_url("oci://registry.example.com/other/access-control:0.1.0").is_err());
    assert!(module_of_url("oci://registry.example.com/wasmesh/hello:0.1.0").is_err());
    assert!(module_of_url("registry.example.com/wasmesh/access-control").is_err());
    assert!(check_digest("access-control", Some("DIGEST_OF_wasmesh")).is_err());
    assert!(check_digest("access-control", Some(&"A".repeat(64))).is_err());
    assert!(check_digest("access-control", None).is_err());
    assert!(check_digest("access-control", Some(&"0a".repeat(32))).is_ok());

    // access-control given a priority above header-normalization's, in the same phase.
    let text = edited(
        "istio",
        "access-control.yaml",
        "phase: AUTHZ\n  priority: 100",
        "phase: AUTHN\n  priority: 2000",
    );
    let documents = parse_file("access-control.yaml", &text)
        .unwrap()
        .into_iter()
        .chain(
            istio_documents()
                .into_iter()
                .filter(|d| !d.name.starts_with("istio/access-control")),
        )
        .collect::<Vec<_>>();
    let per_filter = plugins(&documents).filter(|(_, p)| !is_bundle(p));
    assert_ne!(
        istio_order(per_filter, WorkloadMode::Server).unwrap(),
        FILTER_ORDER
    );
    // Two plugins Istio would order by name.
    let text = edited(
        "istio",
        "trace-propagation.yaml",
        "priority: 20",
        "priority: 10",
    );
    let documents = parse_file("trace-propagation.yaml", &text)
        .unwrap()
        .into_iter()
        .chain(
            istio_documents()
                .into_iter()
                .filter(|d| d.name.starts_with("istio/service-metrics")),
        )
        .collect::<Vec<_>>();
    assert!(istio_order(plugins(&documents), WorkloadMode::Server).is_err());
}
