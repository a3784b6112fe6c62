//! The two image variants of one module, as Istio's and Envoy Gateway's image
//! fetchers read them (the "Wasm Image Specification" of solo-io/wasm):
//!
//! * **oci**: the manifest's config is the runtime configuration
//!   ([`WASM_CONFIG_MEDIA_TYPE`]), and it has exactly two layers: that same
//!   configuration blob and the module itself, raw ([`WASM_LAYER_MEDIA_TYPE`]).
//!   Both fetchers require the two layers and take the one of the wasm media type.
//! * **compat**: an ordinary OCI image (config [`MediaType::ImageConfig`]) with one
//!   `tar+gzip` layer holding only `plugin.wasm`, and the manifest annotation
//!   [`VARIANT_ANNOTATION`]` = compat`. Container tools (skopeo, crane, podman)
//!   handle it like any image.
//!
//! Every byte is a function of the module and the version: the tar entry has a
//! fixed mode, owner and mtime, the gzip header carries no time or name, no
//! `created` time is written, and JSON is serialized canonically (sorted keys,
//! no whitespace), so the same inputs always give the same digests.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use flate2::{Compression, GzBuilder};
use oci_spec::image::{
    Arch, Descriptor, Digest, ImageConfigurationBuilder, ImageManifest, ImageManifestBuilder,
    MediaType, Os, RootFsBuilder, Sha256Digest, ANNOTATION_TITLE, ANNOTATION_VERSION,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Media type of the raw wasm layer of the oci variant.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// Media type of the runtime configuration of the oci variant (config and first layer).
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.module.wasm.config.v1+json";
/// The Docker layer media type a compat image may also have (read, never written).
pub const DOCKER_LAYER_MEDIA_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// The manifest annotation that marks the compat variant.
pub const VARIANT_ANNOTATION: &str = "module.wasm.image/variant";
/// The value of [`VARIANT_ANNOTATION`] on a compat image.
pub const VARIANT_COMPAT: &str = "compat";
/// The one file in the compat variant's layer.
pub const PLUGIN_FILE: &str = "plugin.wasm";
/// The file name the oci variant gives its configuration layer (title annotation).
pub const RUNTIME_CONFIG_FILE: &str = "runtime-config.json";
/// The runtime named in the runtime configuration.
pub const RUNTIME_ENVOY: &str = "envoy_proxy";
/// The prefix of the export by which a proxy-wasm module declares its ABI version.
const ABI_EXPORT_PREFIX: &str = "proxy_abi_version_";
/// The mtime of `plugin.wasm` in the compat layer (its owner is 0:0).
const TAR_MTIME: u64 = 0;
/// The mode of `plugin.wasm` in the compat layer.
const TAR_MODE: u32 = 0o644;

/// `Result` with a message for the command line.
pub type Result<T> = std::result::Result<T, String>;

/// Which of the two image formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Custom wasm media types: raw module layer plus runtime configuration.
    Oci,
    /// A standard `tar+gzip` layer holding `plugin.wasm`.
    Compat,
}

impl Variant {
    /// Both variants, in the order they are written.
    pub const ALL: [Variant; 2] = [Variant::Oci, Variant::Compat];

    /// The tag of this variant for `version`: `<version>` for oci,
    /// `<version>-compat` for compat.
    pub fn tag(self, version: &str) -> String {
        match self {
            Variant::Oci => version.to_string(),
            Variant::Compat => format!("{version}-{VARIANT_COMPAT}"),
        }
    }

    /// `oci` or `compat`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Oci => "oci",
            Variant::Compat => VARIANT_COMPAT,
        }
    }
}

/// The runtime configuration of the oci variant (`application/vnd.module.wasm.config.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// The target runtime: [`RUNTIME_ENVOY`].
    #[serde(rename = "type")]
    pub runtime: String,
    /// The proxy-wasm ABI versions the module exports (`proxy_abi_version_0_2_1`, ...).
    #[serde(rename = "abiVersions")]
    pub abi_versions: Vec<String>,
}

/// A proxy-wasm module to package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The image name (the file name without `.wasm`), e.g. `header-normalization`.
    pub name: String,
    /// The module's bytes.
    pub wasm: Vec<u8>,
    /// The ABI versions it exports.
    pub abi_versions: Vec<String>,
}

impl Module {
    /// Reads `path` (`<name>.wasm`); the image is named after the file.
    pub fn read(path: &Path) -> Result<Self> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wasm"))
            .ok_or_else(|| format!("{}: expected a file named <module>.wasm", path.display()))?;
        let wasm =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::new(name, wasm).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A module named `name` with the bytes `wasm`; fails unless `name` is a
    /// valid repository path component and `wasm` a proxy-wasm module.
    pub fn new(name: &str, wasm: Vec<u8>) -> Result<Self> {
        check_name_component(name)?;
        let abi_versions = abi_versions(&wasm)?;
        Ok(Self {
            name: name.to_string(),
            wasm,
            abi_versions,
        })
    }
}

/// The `proxy_abi_version_*` exports of a wasm module; fails on bytes that do
/// not parse as a module or export no ABI version.
pub fn abi_versions(wasm: &[u8]) -> Result<Vec<String>> {
    let mut versions = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a wasm module: {e}"))?;
        if let wasmparser::Payload::ExportSection(exports) = payload {
            for export in exports {
                let export = export.map_err(|e| format!("bad export section: {e}"))?;
                if export.name.starts_with(ABI_EXPORT_PREFIX) {
                    versions.push(export.name.to_string());
                }
            }
        }
    }
    if versions.is_empty() {
        return Err(format!(
            "not a proxy-wasm module: no {ABI_EXPORT_PREFIX}* export"
        ));
    }
    versions.sort();
    Ok(versions)
}

/// One image: its manifest, byte for byte, and every blob it references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Which variant.
    pub variant: Variant,
    /// The tag it is published under.
    pub tag: String,
    /// The manifest as written and pushed.
    pub manifest: Vec<u8>,
    /// The config and layer blobs, each once, in manifest order.
    pub blobs: Vec<Vec<u8>>,
}

impl Image {
    /// The manifest's digest (`sha256:<hex>`).
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest)
    }

    /// The descriptor of the manifest (for an index), without annotations.
    pub fn manifest_descriptor(&self) -> Result<Descriptor> {
        Ok(Descriptor::new(
            MediaType::ImageManifest,
            len_u64(&self.manifest),
            parse_digest(&self.manifest_digest())?,
        ))
    }
}

/// Builds both variants of `module` for `version` (oci first).
pub fn images(module: &Module, version: &str) -> Result<Vec<Image>> {
    check_tag(&Variant::Compat.tag(version))?;
    Variant::ALL
        .iter()
        .map(|variant| match variant {
            Variant::Oci => oci_image(module, version),
            Variant::Compat => compat_image(module, version),
        })
        .collect()
}

/// The oci variant: config = runtime configuration; layers = [runtime
/// configuration, raw module].
pub fn oci_image(module: &Module, version: &str) -> Result<Image> {
    let config = canonical_json(&RuntimeConfig {
        runtime: RUNTIME_ENVOY.to_string(),
        abi_versions: module.abi_versions.clone(),
    })?;
    let config_type = MediaType::Other(WASM_CONFIG_MEDIA_TYPE.to_string());
    let config_descriptor = descriptor(config_type.clone(), &config, None)?;
    let layers = vec![
        descriptor(config_type, &config, Some(RUNTIME_CONFIG_FILE))?,
        descriptor(
            MediaType::Other(WASM_LAYER_MEDIA_TYPE.to_string()),
            &module.wasm,
            Some(PLUGIN_FILE),
        )?,
    ];
    let manifest = manifest(
        config_descriptor,
        layers,
        image_annotations(module, version, None),
    )?;
    Ok(Image {
        variant: Variant::Oci,
        tag: Variant::Oci.tag(version),
        manifest,
        blobs: vec![config, module.wasm.clone()],
    })
}

/// The compat variant: one `tar+gzip` layer with `plugin.wasm`, a standard
/// image configuration (`wasm`/`wasip1`, no creation time), and the variant
/// annotation.
pub fn compat_image(module: &Module, version: &str) -> Result<Image> {
    let tar = plugin_tar(&module.wasm)?;
    let layer = gzip(&tar)?;
    let rootfs = RootFsBuilder::default()
        .diff_ids(vec![sha256_digest(&tar)])
        .build()
        .map_err(|e| format!("image rootfs: {e}"))?;
    let config = ImageConfigurationBuilder::default()
        .architecture(Arch::Wasm)
        .os(Os::Other("wasip1".to_string()))
        .rootfs(rootfs)
        .build()
        .map_err(|e| format!("image configuration: {e}"))?;
    let config = canonical_json(&config)?;
    let manifest = manifest(
        descriptor(MediaType::ImageConfig, &config, None)?,
        vec![descriptor(MediaType::ImageLayerGzip, &layer, None)?],
        image_annotations(module, version, Some(VARIANT_COMPAT)),
    )?;
    Ok(Image {
        variant: Variant::Compat,
        tag: Variant::Compat.tag(version),
        manifest,
        blobs: vec![config, layer],
    })
}

/// An uncompressed tar holding `wasm` as `plugin.wasm` (mode 0644, owner 0:0,
/// mtime 0, no user or group names).
pub fn plugin_tar(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut header = tar::Header::new_ustar();
    header.set_size(len_u64(wasm));
    header.set_mode(TAR_MODE);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(TAR_MTIME);
    header.set_entry_type(tar::EntryType::Regular);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, PLUGIN_FILE, wasm)
        .and_then(|()| builder.into_inner())
        .map_err(|e| format!("cannot write the layer tar: {e}"))
}

/// gzip of `data` with no mtime and no file name in the header.
fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::best());
    encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .map_err(|e| format!("cannot gzip the layer: {e}"))
}

/// The files of a `tar+gzip` layer, in order, with their contents.
pub fn layer_files(layer: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut archive = tar::Archive::new(GzDecoder::new(layer));
    let entries = archive
        .entries()
        .map_err(|e| format!("layer is not tar+gzip: {e}"))?;
    let mut files = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("bad tar entry in the layer: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("bad tar entry name: {e}"))?
            .display()
            .to_string();
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read {path} from the layer: {e}"))?;
        files.push((path, bytes));
    }
    Ok(files)
}

/// The module inside an image, found the way Istio's and Envoy Gateway's
/// fetchers look for it: a last layer of `tar+gzip` (OCI or Docker media type)
/// is read as the compat variant (`plugin.wasm`, in any directory); otherwise
/// exactly two layers, one of [`WASM_LAYER_MEDIA_TYPE`], are the oci variant.
/// `blob` returns a layer's bytes by descriptor.
pub fn module_in(
    manifest: &ImageManifest,
    mut blob: impl FnMut(&Descriptor) -> Result<Vec<u8>>,
) -> Result<(Variant, Vec<u8>)> {
    let layers = manifest.layers();
    let last = layers
        .last()
        .ok_or_else(|| "the manifest has no layers".to_string())?;
    let last_type = last.media_type();
    if *last_type == MediaType::ImageLayerGzip || last_type.to_string() == DOCKER_LAYER_MEDIA_TYPE {
        let files = layer_files(&blob(last)?)?;
        return files
            .into_iter()
            .find(|(path, _)| Path::new(path).file_name() == Some(PLUGIN_FILE.as_ref()))
            .map(|(_, bytes)| (Variant::Compat, bytes))
            .ok_or_else(|| format!("compat layer without {PLUGIN_FILE}"));
    }
    if layers.len() != 2 {
        return Err(format!(
            "neither variant: the last layer is {} and there are {} layers (oci needs 2)",
            last.media_type(),
            layers.len()
        ));
    }
    let wasm_layer = layers
        .iter()
        .find(|l| l.media_type().to_string() == WASM_LAYER_MEDIA_TYPE)
        .ok_or_else(|| format!("oci variant without a {WASM_LAYER_MEDIA_TYPE} layer"))?;
    Ok((Variant::Oci, blob(wasm_layer)?))
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut digest = String::with_capacity(7 + 64);
    digest.push_str("sha256:");
    for byte in hash.iter() {
        digest.push_str(&format!("{byte:02x}"));
    }
    digest
}

/// Parses `sha256:<hex>` into the OCI type.
pub fn parse_digest(digest: &str) -> Result<Digest> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("not a sha256 digest: {digest}"))?;
    hex.parse::<Sha256Digest>()
        .map(Digest::from)
        .map_err(|e| format!("bad digest {digest}: {e}"))
}

/// `value` as canonical JSON (sorted keys, no insignificant whitespace), so
/// maps with any iteration order serialize to the same bytes.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut bytes, olpc_cjson::CanonicalFormatter::new());
    value
        .serialize(&mut serializer)
        .map_err(|e| format!("cannot serialize JSON: {e}"))?;
    Ok(bytes)
}

/// Checks `name` against the distribution spec's path component grammar:
/// lowercase letters and digits, separated by `.`, `_`, `__` or dashes.
pub fn check_name_component(name: &str) -> Result<()> {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = name.starts_with(alphanumeric)
        && name.ends_with(alphanumeric)
        && name
            .split(alphanumeric)
            .filter(|separator| !separator.is_empty())
            .all(|separator| {
                matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-')
            });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid image name: lowercase letters and digits, separated by '.', '_', '__' or '-'"
        ))
    }
}

/// Checks `tag` against the distribution spec: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    let valid = tag.len() <= 128
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(allowed);
    if valid {
        Ok(())
    } else {
        Err(format!("{tag:?} is not a valid tag"))
    }
}

fn len_u64(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

fn descriptor(media_type: MediaType, blob: &[u8], title: Option<&str>) -> Result<Descriptor> {
    let mut descriptor = Descriptor::new(
        media_type,
        len_u64(blob),
        parse_digest(&sha256_digest(blob))?,
    );
    if let Some(title) = title {
        descriptor.set_annotations(Some(HashMap::from([(
            ANNOTATION_TITLE.to_string(),
            title.to_string(),
        )])));
    }
    Ok(descriptor)
}

fn image_annotations(
    module: &Module,
    version: &str,
    variant: Option<&str>,
) -> HashMap<String, String> {
    let mut annotations = HashMap::from([
        (ANNOTATION_TITLE.to_string(), module.name.clone()),
        (ANNOTATION_VERSION.to_string(), version.to_string()),
    ]);
    if let Some(variant) = variant {
        annotations.insert(VARIANT_ANNOTATION.to_string(), variant.to_string());
    }
    annotations
}

fn manifest(
    config: Descriptor,
    layers: Vec<Descriptor>,
    annotations: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(layers)
        .annotations(annotations)
        .build()
        .map_err(|e| format!("image manifest: {e}"))?;
    canonical_json(&manifest)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    /// The smallest module that passes [`Module::new`]: exports
    /// `proxy_abi_version_0_2_1` (a function of type `() -> ()`) and some data
    /// that makes modules differ.
    pub(crate) fn test_wasm(filler: &[u8]) -> Vec<u8> {
        let name = b"proxy_abi_version_0_2_1";
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        wasm.extend([1, 4, 1, 0x60, 0, 0]); // type section: () -> ()
        wasm.extend([3, 2, 1, 0]); // function section: one function of type 0
        let mut export = vec![1, u8::try_from(name.len()).unwrap()];
        export.extend(name);
        export.extend([0, 0]); // function 0
        wasm.push(7);
        wasm.push(u8::try_from(export.len()).unwrap());
        wasm.extend(export);
        wasm.extend([10, 4, 1, 2, 0, 0x0b]); // code section: empty body
                                             // A custom section carrying `filler`.
        let mut custom = vec![4];
        custom.extend(b"fill");
        custom.extend(filler);
        wasm.push(0);
        wasm.push(u8::try_from(custom.len()).unwrap());
        wasm.extend(custom);
        wasm
    }

    pub(crate) fn test_module(name: &str) -> Module {
        Module::new(name, test_wasm(name.as_bytes())).unwrap()
    }

    fn parse_manifest(image: &Image) -> ImageManifest {
        serde_json::from_slice(&image.manifest).unwrap()
    }

    #[test]
    fn abi_versions_are_read_from_the_exports() {
        assert_eq!(
            abi_versions(&test_wasm(b"x")).unwrap(),
            ["proxy_abi_version_0_2_1"]
        );
        assert!(abi_versions(b"not wasm")
            .unwrap_err()
            .contains("not a wasm module"));
        let empty_module = b"\0asm\x01\0\0\0";
        assert!(abi_versions(empty_module)
            .unwrap_err()
            .contains("not a proxy-wasm module"));
    }

    #[test]
    fn compat_layer_holds_exactly_plugin_wasm_with_the_module_bytes() {
        let module = test_module("hello");
        let image = compat_image(&module, "1.2.3").unwrap();
        let manifest = parse_manifest(&image);
        assert_eq!(manifest.layers().len(), 1);
        let layer = &manifest.layers()[0];
        assert_eq!(*layer.media_type(), MediaType::ImageLayerGzip);
        assert_eq!(
            layer.media_type().to_string(),
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        let files = layer_files(&image.blobs[1]).unwrap();
        assert_eq!(files, vec![(PLUGIN_FILE.to_string(), module.wasm.clone())]);

        let mut archive = tar::Archive::new(GzDecoder::new(image.blobs[1].as_slice()));
        for entry in archive.entries().unwrap() {
            let header = entry.unwrap().header().clone();
            assert_eq!(header.mode().unwrap(), 0o644);
            assert_eq!(header.uid().unwrap(), 0);
            assert_eq!(header.gid().unwrap(), 0);
            assert_eq!(header.mtime().unwrap(), 0);
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
        }
        // The gzip header: no mtime (bytes 4..8), no file name flag.
        assert_eq!(&image.blobs[1][..3], &[0x1f, 0x8b, 8]);
        assert_eq!(image.blobs[1][3] & 0x08, 0, "FNAME set");
        assert_eq!(&image.blobs[1][4..8], &[0, 0, 0, 0]);
    }

    #[test]
    fn compat_manifest_has_the_annotation_and_a_standard_config() {
        let module = test_module("hello");
        let image = compat_image(&module, "1.2.3").unwrap();
        assert_eq!(image.tag, "1.2.3-compat");
        let manifest = parse_manifest(&image);
        assert_eq!(manifest.schema_version(), 2);
        assert_eq!(manifest.media_type(), &Some(MediaType::ImageManifest));
        let annotations = manifest.annotations().clone().unwrap();
        assert_eq!(annotations["module.wasm.image/variant"], "compat");
        assert_eq!(annotations[ANNOTATION_VERSION], "1.2.3");
        assert_eq!(
            manifest.config().media_type().to_string(),
            "application/vnd.oci.image.config.v1+json"
        );
        let config: serde_json::Value = serde_json::from_slice(&image.blobs[0]).unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip1");
        assert_eq!(config["rootfs"]["type"], "layers");
        assert_eq!(
            config["rootfs"]["diff_ids"][0],
            sha256_digest(&plugin_tar(&module.wasm).unwrap())
        );
        assert!(config.get("created").is_none());
    }

    #[test]
    fn oci_manifest_has_the_wasm_layer_and_the_runtime_config() {
        let module = test_module("hello");
        let image = oci_image(&module, "1.2.3").unwrap();
        assert_eq!(image.tag, "1.2.3");
        let manifest = parse_manifest(&image);
        assert_eq!(
            manifest.config().media_type().to_string(),
            "application/vnd.module.wasm.config.v1+json"
        );
        let types: Vec<String> = manifest
            .layers()
            .iter()
            .map(|l| l.media_type().to_string())
            .collect();
        assert_eq!(
            types,
            [
                "application/vnd.module.wasm.config.v1+json",
                "application/vnd.module.wasm.content.layer.v1+wasm"
            ]
        );
        assert_eq!(manifest.layers()[0].digest(), manifest.config().digest());
        assert_eq!(
            manifest.layers()[1].digest().to_string(),
            sha256_digest(&module.wasm)
        );
        assert_eq!(image.blobs[1], module.wasm);
        let config: RuntimeConfig = serde_json::from_slice(&image.blobs[0]).unwrap();
        assert_eq!(config.runtime, "envoy_proxy");
        assert_eq!(config.abi_versions, ["proxy_abi_version_0_2_1"]);
        assert!(manifest
            .annotations()
            .as_ref()
            .unwrap()
            .get(VARIANT_ANNOTATION)
            .is_none());
    }

    #[test]
    fn both_variants_are_found_the_way_istio_looks_for_the_module() {
        let module = test_module("hello");
        for image in images(&module, "1.0.0").unwrap() {
            let manifest = parse_manifest(&image);
            let blob = |d: &Descriptor| {
                image
                    .blobs
                    .iter()
                    .find(|b| sha256_digest(b) == d.digest().to_string())
                    .cloned()
                    .ok_or_else(|| "missing".to_string())
            };
            assert_eq!(
                module_in(&manifest, blob).unwrap(),
                (image.variant, module.wasm.clone())
            );
        }
    }

    #[test]
    fn images_of_neither_variant_are_refused() {
        let module = test_module("hello");
        let mut manifest = parse_manifest(&oci_image(&module, "1").unwrap());
        let wasm_layer = manifest.layers()[1].clone();
        manifest.layers_mut().push(wasm_layer);
        let error = module_in(&manifest, |_| Ok(module.wasm.clone())).unwrap_err();
        assert!(error.contains("neither variant"), "{error}");

        let manifest = parse_manifest(&compat_image(&module, "1").unwrap());
        let mut header = tar::Header::new_ustar();
        header.set_size(1);
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_data(&mut header, "other.wasm", &b"x"[..])
            .unwrap();
        let layer = gzip(&builder.into_inner().unwrap()).unwrap();
        let error = module_in(&manifest, |_| Ok(layer.clone())).unwrap_err();
        assert!(error.contains("without plugin.wasm"), "{error}");
    }

    #[test]
    fn same_inputs_give_the_same_bytes_and_different_inputs_do_not() {
        let module = test_module("hello");
        let first = images(&module, "1.0.0").unwrap();
        for _ in 0..5 {
            assert_eq!(images(&module, "1.0.0").unwrap(), first);
        }
        let other = images(&test_module("other"), "1.0.0").unwrap();
        assert_ne!(other[0].manifest_digest(), first[0].manifest_digest());
        assert_ne!(other[1].manifest_digest(), first[1].manifest_digest());
        let later = images(&module, "1.0.1").unwrap();
        assert_ne!(later[0].manifest_digest(), first[0].manifest_digest());
    }

    #[test]
    fn json_is_canonical() {
        let map = HashMap::from([("b", 1), ("a", 2), ("c", 3)]);
        assert_eq!(canonical_json(&map).unwrap(), br#"{"a":2,"b":1,"c":3}"#);
    }

    #[test]
    fn names_and_tags_are_checked() {
        for good in ["hello", "header-normalization", "a.b", "a__b", "x1"] {
            check_name_component(good).unwrap();
        }
        for bad in ["", "Hello", "-a", "a-", "a..b", "a/b", "a b", "a_.b"] {
            assert!(check_name_component(bad).is_err(), "{bad}");
        }
        check_tag("0.1.0-compat").unwrap();
        for bad in ["", ".x", "-x", "a:b", &"x".repeat(129)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        assert!(Module::new("Bad", test_wasm(b"")).is_err());
    }

    #[test]
    fn digests_are_sha256_hex() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(parse_digest("md5:00").is_err());
        assert!(parse_digest("sha256:xyz").is_err());
    }
}
