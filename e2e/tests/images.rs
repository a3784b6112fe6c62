//! The OCI images of `make images` (dist/oci, written by tools/oci) in a real
//! registry: Debian's `docker-registry` on 127.0.0.1. Every image, both
//! variants, is pushed with `wasmesh-oci push`, read back over plain HTTP and
//! compared with the layout digest by digest, and pulled with `wasmesh-oci
//! pull`, which finds the module the way Istio's and Envoy Gateway's fetchers
//! do. Then Envoy 1.40 loads `hello` straight from the registry's blob URL of
//! the oci variant's wasm layer by `remote` fetch, checked by its sha256.
//!
//! Without `docker-registry` installed these tests are skipped with a message
//! (`apt-get install docker-registry`; `.ci/run` installs it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmesh_e2e::registry::{self, Registry};
use wasmesh_e2e::{dist_dir, http, EchoServer, Envoy, EnvoyConfig, Response};

/// Every module `make images` packs: the filters, the bundle and hello (not
/// the test fixture `trap`, nor the benchmark comparison `plain-access-control`).
const MODULES: [&str; 6] = [
    "access-control",
    "header-normalization",
    "hello",
    "service-metrics",
    "trace-propagation",
    "wasmesh",
];
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const WASM_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
const WASM_CONFIG: &str = "application/vnd.module.wasm.config.v1+json";
const TAR_GZIP_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The registry, or `None` (and a message) when `docker-registry` is not installed.
fn start_registry() -> Option<Registry> {
    let Some(binary) = registry::registry_bin() else {
        eprintln!(
            "SKIPPED: {} is not installed (apt-get install docker-registry; .ci/run installs it)",
            registry::DEBIAN_REGISTRY_BIN
        );
        return None;
    };
    Some(Registry::start(&binary).unwrap())
}

fn oci_dir() -> PathBuf {
    let dir = dist_dir().join("oci");
    assert!(
        dir.join("hello").join("index.json").is_file(),
        "{} has no layouts: `make images` writes them",
        dir.display()
    );
    dir
}

fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sha256sum failed");
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// One image of a layout in dist/oci, as the files say.
#[derive(Debug)]
struct LayoutImage {
    tag: String,
    digest: String,
    manifest: Vec<u8>,
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap())
}

/// The images of `dist/oci/<module>` in index order.
fn layout_images(module: &str) -> Vec<LayoutImage> {
    let layout = oci_dir().join(module);
    let index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|descriptor| {
            let digest = descriptor["digest"].as_str().unwrap().to_string();
            LayoutImage {
                tag: descriptor["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                manifest: std::fs::read(blob_path(&layout, &digest)).unwrap(),
                digest,
            }
        })
        .collect()
}

fn run_tool(args: &[&str]) -> Output {
    let tool = registry::oci_tool().unwrap();
    let output = Command::new(&tool)
        .args(args)
        .current_dir(wasmesh_e2e::repo_root())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "wasmesh-oci {args:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn push(registry: &Registry, layouts: &Path) -> String {
    let output = run_tool(&[
        "push",
        "--registry",
        &registry.host(),
        "--insecure",
        layouts.to_str().unwrap(),
    ]);
    String::from_utf8(output.stdout).unwrap()
}

fn get_manifest(registry: &Registry, module: &str, reference: &str) -> Response {
    registry
        .get(
            &format!("/v2/wasmesh/{module}/manifests/{reference}"),
            &[("Accept", OCI_MANIFEST)],
        )
        .unwrap()
}

fn get_blob(registry: &Registry, module: &str, digest: &str) -> Vec<u8> {
    let response = registry
        .get(&format!("/v2/wasmesh/{module}/blobs/{digest}"), &[])
        .unwrap();
    assert_eq!(response.status, 200, "{module} blob {digest}");
    response.body
}

#[test]
fn every_image_pushed_pulls_back_with_the_layouts_digests() {
    let Some(registry) = start_registry() else {
        return;
    };
    let oci = oci_dir();
    let mut found: Vec<String> = std::fs::read_dir(&oci)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, MODULES, "the layouts in {}", oci.display());

    let pushed = push(&registry, &oci);
    for module in MODULES {
        let module_wasm = std::fs::read(dist_dir().join(format!("{module}.wasm"))).unwrap();
        let images = layout_images(module);
        let tags: Vec<&str> = images.iter().map(|image| image.tag.as_str()).collect();
        let compat_tag = format!("{}-compat", version());
        assert_eq!(tags, [version(), compat_tag.as_str()], "{module}");
        for image in &images {
            let reference = format!("{}/wasmesh/{module}:{}", registry.host(), image.tag);
            assert!(
                pushed.contains(&format!("{reference}@{}", image.digest)),
                "{reference} not in the push output:\n{pushed}"
            );

            // The manifest, by tag and by digest: the layout's bytes.
            for by in [image.tag.as_str(), image.digest.as_str()] {
                let response = get_manifest(&registry, module, by);
                assert_eq!(response.status, 200, "{reference} ({by})");
                assert_eq!(response.header("content-type"), Some(OCI_MANIFEST));
                assert_eq!(
                    response.header("docker-content-digest"),
                    Some(image.digest.as_str())
                );
                assert_eq!(sha256_digest(&response.body), image.digest);
                assert_eq!(response.body, image.manifest, "{reference}");
            }

            // Every blob it references: the size and digest the manifest gives.
            let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
            let layers = manifest["layers"].as_array().unwrap();
            for descriptor in std::iter::once(&manifest["config"]).chain(layers) {
                let digest = descriptor["digest"].as_str().unwrap();
                let blob = get_blob(&registry, module, digest);
                assert_eq!(sha256_digest(&blob), digest, "{reference}");
                assert_eq!(blob.len() as u64, descriptor["size"].as_u64().unwrap());
            }

            // The variant's shape, and the module in it.
            let layer_types: Vec<&str> = layers
                .iter()
                .map(|l| l["mediaType"].as_str().unwrap())
                .collect();
            if image.tag.ends_with("-compat") {
                assert_eq!(layer_types, [TAR_GZIP_LAYER], "{reference}");
                assert_eq!(
                    manifest["annotations"]["module.wasm.image/variant"],
                    "compat"
                );
            } else {
                assert_eq!(manifest["config"]["mediaType"], WASM_CONFIG);
                assert_eq!(layer_types, [WASM_CONFIG, WASM_LAYER], "{reference}");
                let wasm = get_blob(&registry, module, layers[1]["digest"].as_str().unwrap());
                assert!(wasm == module_wasm, "{reference}: not dist/{module}.wasm");
            }

            // Pulled as Istio and Envoy Gateway read it: the module itself.
            let out = std::env::temp_dir().join(format!(
                "wasmesh-images-{}-{module}-{}.wasm",
                std::process::id(),
                image.tag
            ));
            run_tool(&[
                "pull",
                "--registry",
                &registry.host(),
                "--insecure",
                &format!("wasmesh/{module}:{}", image.tag),
                "--out",
                out.to_str().unwrap(),
            ]);
            let pulled = std::fs::read(&out).unwrap();
            let _ = std::fs::remove_file(&out);
            assert!(pulled == module_wasm, "{reference}: pulled module differs");
        }
    }

    // What was never pushed is not there.
    assert_eq!(get_manifest(&registry, "hello", "no-such-tag").status, 404);
    assert_eq!(get_manifest(&registry, "trap", version()).status, 404);
    let status = registry.stop();
    assert!(status.is_some(), "the registry did not stop");
}

#[test]
fn envoy_loads_a_module_from_the_registrys_blob_url() {
    let Some(registry) = start_registry() else {
        return;
    };
    push(&registry, &oci_dir().join("hello"));
    let image = layout_images("hello")
        .into_iter()
        .find(|image| image.tag == version())
        .unwrap();
    let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
    let wasm_layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == WASM_LAYER)
        .unwrap();
    let digest = wasm_layer["digest"].as_str().unwrap();
    let blob_path = format!("/v2/wasmesh/hello/blobs/{digest}");

    let app = EchoServer::start().unwrap();
    let config = EnvoyConfig::from_file("delivery-remote.yaml")
        .unwrap()
        .upstream(8000, app.port())
        .upstream(8080, registry.addr().port())
        .replace(
            "uri: http://127.0.0.1:8080/hello.wasm",
            format!("uri: http://127.0.0.1:8080{blob_path}"),
        )
        .replace(
            "0000000000000000000000000000000000000000000000000000000000000000",
            digest.strip_prefix("sha256:").unwrap(),
        );
    let envoy = Envoy::start(&config).unwrap();
    let ingress = envoy.listener("ingress").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let greeting = loop {
        let response = http::get(ingress, "/hello", &[]).unwrap();
        if response.status == 200 || Instant::now() >= deadline {
            break response;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        greeting.status,
        200,
        "{}\n{}",
        greeting.body_str(),
        envoy.log()
    );
    assert_eq!(
        greeting.json().unwrap()["greeting"],
        "hello from a remote module"
    );
    let response = http::get(ingress, "/api", &[]).unwrap();
    assert_eq!(response.status, 200);
    let echoed = response.json().unwrap();
    let x_hello = echoed["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "x-hello")
        .map(|pair| pair[1].clone());
    assert_eq!(x_hello, Some(Value::from("hello from a remote module")));
    assert!(
        registry.log().contains(&format!("\"GET {blob_path} ")),
        "the registry never served {blob_path}:\n{}",
        registry.log()
    );
    drop(envoy);
    assert!(registry.stop().is_some(), "the registry did not stop");
}
