//! OCI image layouts on disk, one per module: `<out>/<module>/` holds
//! `oci-layout`, `index.json` (one manifest per variant, named by its tag in
//! `org.opencontainers.image.ref.name`) and `blobs/sha256/<hex>`.
//!
//! `skopeo copy oci:dist/oci/hello:0.1.0 docker://...` and any other tool that
//! reads OCI layouts can use them as they are.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::image::{
    Descriptor, ImageIndex, ImageIndexBuilder, ImageManifest, MediaType, OciLayout,
    OciLayoutBuilder, ANNOTATION_REF_NAME,
};

use crate::image::{self, canonical_json, check_tag, sha256_digest, Image, Module, Result};

/// The layout's index.
pub const INDEX_FILE: &str = "index.json";
/// The layout's marker file.
pub const LAYOUT_FILE: &str = "oci-layout";
/// The image layout version written and accepted.
pub const LAYOUT_VERSION: &str = "1.0.0";

/// Builds both variants of every module for `version` and writes one layout
/// per module into `out/<module>/`, replacing an earlier layout there. Returns
/// the images by module, in the order given.
pub fn write_all(
    out: &Path,
    modules: &[Module],
    version: &str,
) -> Result<Vec<(String, Vec<Image>)>> {
    let mut seen = HashSet::new();
    let mut written = Vec::new();
    for module in modules {
        if !seen.insert(module.name.as_str()) {
            return Err(format!("module {} given twice", module.name));
        }
        let images = image::images(module, version)?;
        write(&out.join(&module.name), &images)?;
        written.push((module.name.clone(), images));
    }
    Ok(written)
}

/// Writes `images` as the layout `dir`. An existing layout there is replaced;
/// any other existing non-empty directory is refused.
pub fn write(dir: &Path, images: &[Image]) -> Result<()> {
    if dir.join(LAYOUT_FILE).is_file() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    } else if dir
        .read_dir()
        .is_ok_and(|mut entries| entries.next().is_some())
    {
        return Err(format!(
            "{} exists and is not an OCI layout: not replacing it",
            dir.display()
        ));
    }
    let blobs_dir = dir.join("blobs").join("sha256");
    std::fs::create_dir_all(&blobs_dir)
        .map_err(|e| format!("cannot create {}: {e}", blobs_dir.display()))?;
    let mut manifests = Vec::new();
    for image in images {
        for blob in image.blobs.iter().chain([&image.manifest]) {
            write_blob(&blobs_dir, blob)?;
        }
        let mut descriptor = image.manifest_descriptor()?;
        descriptor.set_annotations(Some(HashMap::from([(
            ANNOTATION_REF_NAME.to_string(),
            image.tag.clone(),
        )])));
        manifests.push(descriptor);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .map_err(|e| format!("image index: {e}"))?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version(LAYOUT_VERSION)
        .build()
        .map_err(|e| format!("oci-layout: {e}"))?;
    write_file(&dir.join(INDEX_FILE), &canonical_json(&index)?)?;
    write_file(&dir.join(LAYOUT_FILE), &canonical_json(&layout)?)
}

fn write_blob(blobs_dir: &Path, blob: &[u8]) -> Result<()> {
    let digest = sha256_digest(blob);
    let hex = digest.trim_start_matches("sha256:");
    write_file(&blobs_dir.join(hex), blob)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A layout read back, every reference checked.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The layout's directory.
    pub dir: PathBuf,
    /// The module (the directory's name), used as the repository's last component.
    pub name: String,
    /// Its images, in index order.
    pub images: Vec<LayoutImage>,
}

/// One image of a [`Layout`].
#[derive(Debug, Clone)]
pub struct LayoutImage {
    /// The tag (`org.opencontainers.image.ref.name`).
    pub tag: String,
    /// The manifest, byte for byte.
    pub manifest: Vec<u8>,
    /// The manifest's digest.
    pub manifest_digest: String,
    /// The manifest, parsed.
    pub parsed: ImageManifest,
    /// The config, then every layer, each once: descriptor and bytes.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

impl Layout {
    /// Reads the layout in `dir` and checks it: the layout version, the index,
    /// and that every manifest, config and layer it references is there with
    /// the size and sha256 digest its descriptor gives.
    pub fn open(dir: &Path) -> Result<Self> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{}: no directory name", dir.display()))?
            .to_string();
        image::check_name_component(&name).map_err(|e| format!("{}: {e}", dir.display()))?;
        let layout: OciLayout = read_json(&dir.join(LAYOUT_FILE))?;
        if layout.image_layout_version() != LAYOUT_VERSION {
            return Err(format!(
                "{}: image layout version {}, expected {LAYOUT_VERSION}",
                dir.display(),
                layout.image_layout_version()
            ));
        }
        let index: ImageIndex = read_json(&dir.join(INDEX_FILE))?;
        if index.schema_version() != 2 {
            return Err(format!(
                "{}: index schemaVersion {}",
                dir.display(),
                index.schema_version()
            ));
        }
        let mut tags = HashSet::new();
        let mut images = Vec::new();
        for descriptor in index.manifests() {
            let tag = descriptor
                .annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .ok_or_else(|| {
                    format!(
                        "{}: manifest {} has no {ANNOTATION_REF_NAME}",
                        dir.display(),
                        descriptor.digest()
                    )
                })?
                .clone();
            check_tag(&tag)?;
            if !tags.insert(tag.clone()) {
                return Err(format!("{}: tag {tag} names two manifests", dir.display()));
            }
            if *descriptor.media_type() != MediaType::ImageManifest {
                return Err(format!(
                    "{}: {tag} is a {}, not an image manifest",
                    dir.display(),
                    descriptor.media_type()
                ));
            }
            let manifest = read_blob(dir, descriptor)?;
            let parsed: ImageManifest = serde_json::from_slice(&manifest)
                .map_err(|e| format!("{}: manifest of {tag}: {e}", dir.display()))?;
            if parsed
                .media_type()
                .as_ref()
                .is_some_and(|m| *m != MediaType::ImageManifest)
            {
                return Err(format!(
                    "{}: manifest of {tag} has another media type",
                    dir.display()
                ));
            }
            let mut seen = HashSet::new();
            let mut blobs = Vec::new();
            for blob in std::iter::once(parsed.config()).chain(parsed.layers()) {
                if seen.insert(blob.digest().to_string()) {
                    blobs.push((blob.clone(), read_blob(dir, blob)?));
                }
            }
            images.push(LayoutImage {
                tag,
                manifest_digest: descriptor.digest().to_string(),
                manifest,
                parsed,
                blobs,
            });
        }
        if images.is_empty() {
            return Err(format!("{}: the index lists no manifest", dir.display()));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            name,
            images,
        })
    }

    /// The image tagged `tag`.
    pub fn image(&self, tag: &str) -> Option<&LayoutImage> {
        self.images.iter().find(|image| image.tag == tag)
    }
}

/// The layouts under `root`: `root` itself when it is a layout, else each
/// subdirectory that is one (sorted by name). Each is checked by [`Layout::open`].
pub fn open_all(root: &Path) -> Result<Vec<Layout>> {
    if root.join(LAYOUT_FILE).is_file() {
        return Ok(vec![Layout::open(root)?]);
    }
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("cannot read {}: {e}", root.display()))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read {}: {e}", root.display()))?
            .path();
        if path.join(LAYOUT_FILE).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        return Err(format!(
            "{}: no OCI layout here or in its subdirectories (run `make images`)",
            root.display()
        ));
    }
    dirs.iter().map(|dir| Layout::open(dir)).collect()
}

/// The blob `descriptor` names in the layout `dir`, checked against its size and digest.
pub fn read_blob(dir: &Path, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let digest = descriptor.digest().to_string();
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("{}: unsupported digest {digest}", dir.display()))?;
    let path = dir.join("blobs").join("sha256").join(hex);
    let bytes =
        std::fs::read(&path).map_err(|e| format!("cannot read blob {}: {e}", path.display()))?;
    if u64::try_from(bytes.len()).ok() != Some(descriptor.size()) {
        return Err(format!(
            "{}: {} bytes, the descriptor says {}",
            path.display(),
            bytes.len(),
            descriptor.size()
        ));
    }
    let actual = sha256_digest(&bytes);
    if actual != digest {
        return Err(format!("{}: content has digest {actual}", path.display()));
    }
    Ok(bytes)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;
    use crate::image::tests::test_module;
    use crate::image::{module_in, Variant};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("wasmesh-oci-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every file under `dir` with its bytes, by relative path.
    fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else {
                let relative = path.strip_prefix(dir).unwrap().display().to_string();
                files.push((relative, std::fs::read(&path).unwrap()));
            }
        }
        files.sort();
        files
    }

    #[test]
    fn written_layout_validates_from_index_to_every_blob() {
        let out = temp_dir("validates");
        let modules = [test_module("hello"), test_module("access-control")];
        let written = write_all(&out, &modules, "0.1.0").unwrap();
        let layouts = open_all(&out).unwrap();
        assert_eq!(
            layouts.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["access-control", "hello"]
        );
        for layout in &layouts {
            let module = modules.iter().find(|m| m.name == layout.name).unwrap();
            let (_, images) = written.iter().find(|(n, _)| *n == layout.name).unwrap();
            assert_eq!(
                layout
                    .images
                    .iter()
                    .map(|i| i.tag.as_str())
                    .collect::<Vec<_>>(),
                ["0.1.0", "0.1.0-compat"]
            );
            for (read, built) in layout.images.iter().zip(images) {
                assert_eq!(read.manifest, built.manifest);
                assert_eq!(read.manifest_digest, built.manifest_digest());
                let blob = |d: &Descriptor| {
                    read.blobs
                        .iter()
                        .find(|(b, _)| b.digest() == d.digest())
                        .map(|(_, bytes)| bytes.clone())
                        .ok_or_else(|| "missing".to_string())
                };
                let (variant, wasm) = module_in(&read.parsed, blob).unwrap();
                assert_eq!(variant, built.variant);
                assert_eq!(wasm, module.wasm);
            }
            let oci_layout = std::fs::read_to_string(layout.dir.join(LAYOUT_FILE)).unwrap();
            assert_eq!(oci_layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
            let index: serde_json::Value =
                serde_json::from_slice(&std::fs::read(layout.dir.join(INDEX_FILE)).unwrap())
                    .unwrap();
            assert_eq!(
                index["mediaType"],
                "application/vnd.oci.image.index.v1+json"
            );
            assert_eq!(
                index["manifests"][1]["annotations"]["org.opencontainers.image.ref.name"],
                "0.1.0-compat"
            );
        }
        // Writing again replaces the layout; a stale blob disappears.
        let stale = out.join("hello/blobs/sha256/stale");
        std::fs::write(&stale, b"x").unwrap();
        write_all(&out, &modules[..1], "0.1.0").unwrap();
        assert!(!stale.exists());
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn two_runs_write_identical_layouts() {
        let modules = [test_module("hello"), test_module("wasmesh")];
        let first = temp_dir("reproducible-1");
        let second = temp_dir("reproducible-2");
        write_all(&first, &modules, "0.1.0").unwrap();
        write_all(&second, &modules, "0.1.0").unwrap();
        let (a, b) = (tree(&first), tree(&second));
        assert_eq!(a.len(), 2 * (2 + 2 + 2 + 2));
        assert_eq!(a, b);
        for dir in [first, second] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn a_damaged_layout_is_refused() {
        let out = temp_dir("damaged");
        let module = test_module("hello");
        write_all(&out, std::slice::from_ref(&module), "0.1.0").unwrap();
        let dir = out.join("hello");
        let layout = Layout::open(&dir).unwrap();
        let wasm_digest = sha256_digest(&module.wasm);
        let wasm_blob = dir.join("blobs/sha256").join(&wasm_digest[7..]);

        // A changed blob of the same size: digest mismatch.
        let mut changed = module.wasm.clone();
        *changed.last_mut().unwrap() ^= 1;
        std::fs::write(&wasm_blob, &changed).unwrap();
        let error = Layout::open(&dir).unwrap_err();
        assert!(error.contains("content has digest"), "{error}");

        // A truncated blob: size mismatch.
        std::fs::write(&wasm_blob, &module.wasm[1..]).unwrap();
        let error = Layout::open(&dir).unwrap_err();
        assert!(error.contains("the descriptor says"), "{error}");

        // A missing manifest.
        std::fs::write(&wasm_blob, &module.wasm).unwrap();
        Layout::open(&dir).unwrap();
        let manifest = &layout.image("0.1.0-compat").unwrap().manifest_digest;
        std::fs::remove_file(dir.join("blobs/sha256").join(&manifest[7..])).unwrap();
        let error = Layout::open(&dir).unwrap_err();
        assert!(error.contains("cannot read blob"), "{error}");

        // A wrong layout version.
        std::fs::write(dir.join(LAYOUT_FILE), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
        assert!(Layout::open(&dir).unwrap_err().contains("layout version"));
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn a_directory_that_is_not_a_layout_is_not_replaced() {
        let out = temp_dir("not-a-layout");
        std::fs::create_dir_all(out.join("hello")).unwrap();
        std::fs::write(out.join("hello/keep"), b"x").unwrap();
        let error = write_all(&out, &[test_module("hello")], "0.1.0").unwrap_err();
        assert!(error.contains("not an OCI layout"), "{error}");
        assert!(out.join("hello/keep").is_file());
        assert!(open_all(&out).unwrap_err().contains("no OCI layout"));
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn variants_are_tagged_apart() {
        assert_eq!(Variant::Oci.tag("0.1.0"), "0.1.0");
        assert_eq!(Variant::Compat.tag("0.1.0"), "0.1.0-compat");
    }
}
