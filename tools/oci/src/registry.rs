//! Pushing layouts to a registry and pulling images back, with `oci-client`.
//!
//! Blobs and manifests are sent byte for byte as the layout holds them, so the
//! registry serves the same digests as `dist/oci`. A layout `<module>` goes to
//! the repository `<namespace>/<module>` (`wasmesh/hello`) under each of its
//! tags.
//!
//! Credentials: `--username` with the password on standard input, else the
//! registry's entry in `$REGISTRY_AUTH_FILE` when set, else in the Docker
//! configuration (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`,
//! including credential helpers), else none.

use std::path::Path;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{Descriptor, ImageManifest, MediaType};

use crate::image::{self, sha256_digest, Result, Variant};
use crate::layout::{self, Layout};

/// The manifest media types asked for when pulling.
const ACCEPTED_MANIFESTS: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// Where and how to reach a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// `host[:port]`.
    pub host: String,
    /// Plain HTTP instead of HTTPS (a local or test registry).
    pub insecure: bool,
    /// The credentials.
    pub auth: Credentials,
}

/// How to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Look in `$REGISTRY_AUTH_FILE` or the Docker configuration; anonymous when absent.
    FromConfig,
    /// A user name and password.
    Basic(String, String),
    /// No credentials.
    Anonymous,
}

/// One pushed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// `host/namespace/module:tag`.
    pub reference: String,
    /// The manifest digest.
    pub digest: String,
    /// How many blobs were uploaded (the rest were already there).
    pub uploaded: usize,
}

/// An image pulled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The manifest, byte for byte.
    pub manifest: Vec<u8>,
    /// Its digest, computed from those bytes.
    pub digest: String,
    /// Which variant the module was found in.
    pub variant: Variant,
    /// The module.
    pub wasm: Vec<u8>,
}

impl Registry {
    fn client(&self) -> Client {
        Client::new(ClientConfig {
            protocol: if self.insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..ClientConfig::default()
        })
    }

    fn registry_auth(&self) -> Result<RegistryAuth> {
        match &self.auth {
            Credentials::Anonymous => Ok(RegistryAuth::Anonymous),
            Credentials::Basic(user, password) => {
                Ok(RegistryAuth::Basic(user.clone(), password.clone()))
            }
            Credentials::FromConfig => credentials_from_config(&self.host),
        }
    }

    fn reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_string(), tag.to_string())
    }
}

/// The registry's credentials from `$REGISTRY_AUTH_FILE` or the Docker configuration.
fn credentials_from_config(host: &str) -> Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    let credential = match std::env::var_os("REGISTRY_AUTH_FILE").filter(|v| !v.is_empty()) {
        Some(file) => {
            let reader = std::fs::File::open(&file).map_err(|e| {
                format!(
                    "cannot read REGISTRY_AUTH_FILE {}: {e}",
                    Path::new(&file).display()
                )
            })?;
            docker_credential::get_credential_from_reader(std::io::BufReader::new(reader), host)
        }
        None => docker_credential::get_credential(host),
    };
    match credential {
        Ok(DockerCredential::UsernamePassword(user, password)) => {
            Ok(RegistryAuth::Basic(user, password))
        }
        Ok(DockerCredential::IdentityToken(_)) => Err(format!(
            "the credentials for {host} are an identity token, which is not supported: use --username"
        )),
        Err(E::ConfigNotFound | E::ConfigReadError | E::NoCredentialConfigured) => {
            Ok(RegistryAuth::Anonymous)
        }
        Err(e) => Err(format!("credentials for {host}: {e}")),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Pushes every image of every layout under `root` (see [`layout::open_all`])
/// to `registry` as `<namespace>/<module>:<tag>`. Blobs the repository already
/// has are not uploaded again.
pub fn push(root: &Path, registry: &Registry, namespace: &str) -> Result<Vec<Pushed>> {
    for component in namespace.split('/') {
        image::check_name_component(component)
            .map_err(|e| format!("namespace {namespace:?}: {e}"))?;
    }
    let layouts = layout::open_all(root)?;
    runtime()?.block_on(push_layouts(&layouts, registry, namespace))
}

async fn push_layouts(
    layouts: &[Layout],
    registry: &Registry,
    namespace: &str,
) -> Result<Vec<Pushed>> {
    let client = registry.client();
    let auth = registry.registry_auth()?;
    let manifest_type = header_value(MediaType::ImageManifest.as_ref())?;
    let mut pushed = Vec::new();
    for layout in layouts {
        let repository = format!("{namespace}/{}", layout.name);
        for image in &layout.images {
            let reference = registry.reference(&repository, &image.tag);
            let error =
                |e: oci_client::errors::OciDistributionError| format!("pushing {reference}: {e}");
            client
                .auth(&reference, &auth, oci_client::RegistryOperation::Push)
                .await
                .map_err(error)?;
            let mut uploaded = 0;
            for (descriptor, bytes) in &image.blobs {
                let digest = descriptor.digest().to_string();
                if !client
                    .blob_exists(&reference, &digest)
                    .await
                    .map_err(error)?
                {
                    client
                        .push_blob(&reference, bytes.clone(), &digest)
                        .await
                        .map_err(error)?;
                    uploaded += 1;
                }
            }
            client
                .push_manifest_raw(&reference, image.manifest.clone(), manifest_type.clone())
                .await
                .map_err(error)?;
            pushed.push(Pushed {
                reference: reference.whole(),
                digest: image.manifest_digest.clone(),
                uploaded,
            });
        }
    }
    Ok(pushed)
}

fn header_value(value: &str) -> Result<http::HeaderValue> {
    http::HeaderValue::from_str(value).map_err(|e| format!("bad header value {value}: {e}"))
}

/// Pulls `repository:tag` from `registry`, checks every digest, and finds the
/// module in it the way Istio and Envoy Gateway do ([`image::module_in`]).
pub fn pull(registry: &Registry, repository: &str, tag: &str) -> Result<Pulled> {
    runtime()?.block_on(pull_image(registry, repository, tag))
}

async fn pull_image(registry: &Registry, repository: &str, tag: &str) -> Result<Pulled> {
    let client = registry.client();
    let auth = registry.registry_auth()?;
    let reference = registry.reference(repository, tag);
    let error = |e: oci_client::errors::OciDistributionError| format!("pulling {reference}: {e}");
    let (manifest, served_digest) = client
        .pull_manifest_raw(&reference, &auth, &ACCEPTED_MANIFESTS)
        .await
        .map_err(error)?;
    let manifest = manifest.to_vec();
    let digest = sha256_digest(&manifest);
    if served_digest != digest {
        return Err(format!(
            "{reference}: the registry says the manifest is {served_digest}, its bytes are {digest}"
        ));
    }
    let parsed: ImageManifest = serde_json::from_slice(&manifest)
        .map_err(|e| format!("{reference}: the manifest does not parse: {e}"))?;
    let mut blobs = Vec::new();
    for descriptor in std::iter::once(parsed.config()).chain(parsed.layers()) {
        let mut bytes = Vec::new();
        let digest = descriptor.digest().to_string();
        client
            .pull_blob(&reference, digest.as_str(), &mut bytes)
            .await
            .map_err(error)?;
        check_blob(descriptor, &bytes).map_err(|e| format!("{reference}: {e}"))?;
        blobs.push((digest, bytes));
    }
    let (variant, wasm) = image::module_in(&parsed, |descriptor: &Descriptor| {
        let digest = descriptor.digest().to_string();
        blobs
            .iter()
            .find(|(d, _)| *d == digest)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| format!("blob {digest} was not pulled"))
    })
    .map_err(|e| format!("{reference}: {e}"))?;
    Ok(Pulled {
        manifest,
        digest,
        variant,
        wasm,
    })
}

fn check_blob(descriptor: &Descriptor, bytes: &[u8]) -> Result<()> {
    let digest = sha256_digest(bytes);
    if digest != descriptor.digest().to_string()
        || u64::try_from(bytes.len()).ok() != Some(descriptor.size())
    {
        return Err(format!(
            "blob {} ({} bytes) arrived as {digest} ({} bytes)",
            descriptor.digest(),
            descriptor.size(),
            bytes.len()
        ));
    }
    Ok(())
}
