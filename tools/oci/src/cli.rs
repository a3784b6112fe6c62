//! The command line: subcommands, options, `--help`, and the exit codes.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::image::{self, Module};
use crate::layout;
use crate::registry::{self, Credentials, Registry};

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
wasmesh-oci: packs proxy-wasm modules as OCI images for Istio and Envoy Gateway.

USAGE:
    wasmesh-oci layout --out DIR [--image-version V] MODULE.wasm...
    wasmesh-oci push --registry HOST[:PORT][/PATH] [--namespace NS] [--insecure]
                     [--username USER --password-stdin] LAYOUTS
    wasmesh-oci pull --registry HOST[:PORT][/PATH] [--insecure]
                     [--username USER --password-stdin] REPOSITORY:TAG --out FILE
    wasmesh-oci --help | --version

layout   writes DIR/<module>/, an OCI image layout with two images of
         <module>.wasm: the oci variant tagged V and the compat variant tagged
         V-compat (V defaults to this tool's version). An earlier layout there
         is replaced. The same modules and V always give the same digests.
push     pushes every image of the layouts in LAYOUTS (a layout, or a directory
         of them such as dist/oci) as HOST/PATH/NS/<module>:<tag> (NS
         defaults to wasmesh), blobs and manifests byte for byte, and prints
         each reference with its manifest digest.
pull     fetches HOST/PATH/REPOSITORY:TAG, checks every digest, finds the module the way
         Istio does (compat or oci variant) and writes it to FILE.

OPTIONS:
    --insecure         plain HTTP instead of HTTPS (a local registry)
    --username USER    with --password-stdin: the password is read from standard
                       input. Without them, credentials come from the file
                       $REGISTRY_AUTH_FILE names, else the Docker configuration
                       ($DOCKER_CONFIG/config.json or ~/.docker/config.json,
                       credential helpers included), else none.

EXIT STATUS:
    0 done, 1 the operation failed, 2 bad command line.
";

/// How the registry commands reach the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// `host[:port]`.
    pub host: String,
    /// Plain HTTP.
    pub insecure: bool,
    /// `--username`, whose password is read from standard input.
    pub username: Option<String>,
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write layouts for `modules` into `out`.
    Layout {
        /// The output directory.
        out: PathBuf,
        /// The image version (tags `V` and `V-compat`).
        version: String,
        /// The `.wasm` files.
        modules: Vec<PathBuf>,
    },
    /// Push the layouts under `layouts`.
    Push {
        /// The registry.
        registry: RegistryOptions,
        /// The repository namespace.
        namespace: String,
        /// A layout or a directory of layouts.
        layouts: PathBuf,
    },
    /// Pull `repository:tag` and write its module to `out`.
    Pull {
        /// The registry.
        registry: RegistryOptions,
        /// The repository, e.g. `wasmesh/hello`.
        repository: String,
        /// The tag.
        tag: String,
        /// Where the module goes.
        out: PathBuf,
    },
    /// Print the usage.
    Help,
    /// Print the version.
    Version,
}

/// Parses the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, String> {
    let mut args = args.into_iter();
    let Some(subcommand) = args.next() else {
        return Err("a subcommand is needed: layout, push or pull".to_string());
    };
    let subcommand = utf8(subcommand)?;
    let mut out = None;
    let mut version = None;
    let mut host = None;
    let mut namespace = None;
    let mut insecure = false;
    let mut username = None;
    let mut password_stdin = false;
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        let arg = utf8(arg)?;
        let mut value = |name: &str| {
            args.next()
                .map(utf8)
                .transpose()?
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--out" | "-o" => out = Some(PathBuf::from(value("--out")?)),
            "--image-version" => version = Some(value("--image-version")?),
            "--registry" => host = Some(value("--registry")?),
            "--namespace" => namespace = Some(value("--namespace")?),
            "--username" => username = Some(value("--username")?),
            "--insecure" => insecure = true,
            "--password-stdin" => password_stdin = true,
            option if option.starts_with('-') => return Err(format!("unknown option {option}")),
            _ => positional.push(arg),
        }
    }
    if username.is_some() != password_stdin {
        return Err("--username and --password-stdin go together".to_string());
    }
    let registry = |host: Option<String>| {
        host.map(|host| RegistryOptions {
            host,
            insecure,
            username: username.clone(),
        })
        .ok_or_else(|| format!("{subcommand} needs --registry HOST[:PORT][/PATH]"))
    };
    let only = |allowed: &[&str], given: &[(&str, bool)]| {
        given
            .iter()
            .find(|(name, set)| *set && !allowed.contains(name))
            .map_or(Ok(()), |(name, _)| {
                Err(format!("{name} does not apply to {subcommand}"))
            })
    };
    let given = [
        ("--out", out.is_some()),
        ("--image-version", version.is_some()),
        ("--registry", host.is_some()),
        ("--namespace", namespace.is_some()),
        ("--insecure", insecure),
        ("--username", username.is_some()),
    ];
    match subcommand.as_str() {
        "--help" | "-h" | "help" => Ok(Command::Help),
        "--version" | "-V" => Ok(Command::Version),
        "layout" => {
            only(&["--out", "--image-version"], &given)?;
            if positional.is_empty() {
                return Err("layout needs at least one MODULE.wasm".to_string());
            }
            Ok(Command::Layout {
                out: out.ok_or("layout needs --out DIR")?,
                version: version.unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string()),
                modules: positional.into_iter().map(PathBuf::from).collect(),
            })
        }
        "push" => {
            only(
                &["--registry", "--namespace", "--insecure", "--username"],
                &given,
            )?;
            let [layouts] = <[String; 1]>::try_from(positional)
                .map_err(|_| "push takes one LAYOUTS directory".to_string())?;
            Ok(Command::Push {
                registry: registry(host)?,
                namespace: namespace.unwrap_or_else(|| "wasmesh".to_string()),
                layouts: PathBuf::from(layouts),
            })
        }
        "pull" => {
            only(&["--registry", "--insecure", "--username", "--out"], &given)?;
            let [image] = <[String; 1]>::try_from(positional)
                .map_err(|_| "pull takes one REPOSITORY:TAG".to_string())?;
            let (repository, tag) = image
                .rsplit_once(':')
                .filter(|(repository, _)| !repository.is_empty())
                .ok_or_else(|| format!("{image}: expected REPOSITORY:TAG"))?;
            image::check_tag(tag)?;
            Ok(Command::Pull {
                registry: registry(host)?,
                repository: repository.to_string(),
                tag: tag.to_string(),
                out: out.ok_or("pull needs --out FILE")?,
            })
        }
        other => Err(format!("unknown subcommand {other}")),
    }
}

fn utf8(arg: OsString) -> Result<String, String> {
    arg.into_string()
        .map_err(|a| format!("argument {a:?} is not UTF-8"))
}

impl RegistryOptions {
    /// `--registry HOST[:PORT][/PATH]` split into the host and the repository
    /// prefix (`ghcr.io/acme` -> `ghcr.io`, `acme`).
    pub fn split(&self) -> Result<(String, Option<String>), String> {
        let (host, path) = match self.host.split_once('/') {
            Some((host, path)) => (host, Some(path.trim_end_matches('/'))),
            None => (self.host.as_str(), None),
        };
        if host.is_empty() {
            return Err(format!("--registry {}: no host", self.host));
        }
        let path = path.filter(|p| !p.is_empty());
        for component in path.into_iter().flat_map(|p| p.split('/')) {
            image::check_name_component(component)
                .map_err(|e| format!("--registry {}: {e}", self.host))?;
        }
        Ok((host.to_string(), path.map(str::to_string)))
    }

    /// `repository` under the registry's path, if it has one.
    fn repository(&self, repository: &str) -> Result<String, String> {
        Ok(match self.split()?.1 {
            Some(prefix) => format!("{prefix}/{repository}"),
            None => repository.to_string(),
        })
    }

    fn registry(&self) -> Result<Registry, String> {
        let auth = match &self.username {
            Some(user) => {
                let mut password = String::new();
                std::io::stdin()
                    .read_to_string(&mut password)
                    .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
                Credentials::Basic(
                    user.clone(),
                    password.trim_end_matches(['\r', '\n']).to_string(),
                )
            }
            None => Credentials::FromConfig,
        };
        Ok(Registry {
            host: self.split()?.0,
            insecure: self.insecure,
            auth,
        })
    }
}

/// Runs `command`; what it prints goes to standard output.
pub fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Help => print!("{USAGE}"),
        Command::Version => println!("wasmesh-oci {}", env!("CARGO_PKG_VERSION")),
        Command::Layout {
            out,
            version,
            modules,
        } => {
            let modules = modules
                .iter()
                .map(|path| Module::read(path))
                .collect::<Result<Vec<_>, _>>()?;
            for (name, images) in layout::write_all(&out, &modules, &version)? {
                for image in images {
                    println!(
                        "{}  {:<6}  {}:{}",
                        image.manifest_digest(),
                        image.variant.name(),
                        name,
                        image.tag
                    );
                }
            }
        }
        Command::Push {
            registry,
            namespace,
            layouts,
        } => {
            let namespace = registry.repository(&namespace)?;
            for pushed in registry::push(&layouts, &registry.registry()?, &namespace)? {
                println!(
                    "{}@{}  ({} blobs uploaded)",
                    pushed.reference, pushed.digest, pushed.uploaded
                );
            }
        }
        Command::Pull {
            registry,
            repository,
            tag,
            out,
        } => {
            let repository = registry.repository(&repository)?;
            let pulled = registry::pull(&registry.registry()?, &repository, &tag)?;
            std::fs::write(&out, &pulled.wasm)
                .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
            println!(
                "{}  {:<6}  {}:{tag} -> {} ({} bytes, {})",
                pulled.digest,
                pulled.variant.name(),
                repository,
                out.display(),
                pulled.wasm.len(),
                image::sha256_digest(&pulled.wasm)
            );
        }
    }
    Ok(())
}

/// The program: parses `std::env::args`, runs, reports errors on standard error.
pub fn main() -> ExitCode {
    let command = match parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(message) => {
            eprintln!("wasmesh-oci: {message}\n(wasmesh-oci --help for the usage)");
            return ExitCode::from(2);
        }
    };
    match run(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wasmesh-oci: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn layout_takes_modules_and_defaults_the_version() {
        assert_eq!(
            parse(args("layout --out dist/oci dist/a.wasm dist/b.wasm")).unwrap(),
            Command::Layout {
                out: PathBuf::from("dist/oci"),
                version: env!("CARGO_PKG_VERSION").to_string(),
                modules: vec![PathBuf::from("dist/a.wasm"), PathBuf::from("dist/b.wasm")],
            }
        );
        assert!(matches!(
            parse(args("layout --out o --image-version 2.0.0 a.wasm")).unwrap(),
            Command::Layout { version, .. } if version == "2.0.0"
        ));
        assert!(parse(args("layout --out o")).is_err());
        assert!(parse(args("layout a.wasm")).is_err());
        assert!(parse(args("layout --out o --insecure a.wasm")).is_err());
    }

    #[test]
    fn push_and_pull_need_a_registry() {
        assert_eq!(
            parse(args("push --registry 127.0.0.1:5000 --insecure dist/oci")).unwrap(),
            Command::Push {
                registry: RegistryOptions {
                    host: "127.0.0.1:5000".to_string(),
                    insecure: true,
                    username: None,
                },
                namespace: "wasmesh".to_string(),
                layouts: PathBuf::from("dist/oci"),
            }
        );
        assert!(parse(args("push dist/oci")).is_err());
        assert!(parse(args("push --registry r --username u dist/oci")).is_err());
        assert!(parse(args(
            "push --registry r --username u --password-stdin dist/oci"
        ))
        .is_ok());
        assert_eq!(
            parse(args(
                "pull --registry r wasmesh/hello:0.1.0-compat --out x.wasm"
            ))
            .unwrap(),
            Command::Pull {
                registry: RegistryOptions {
                    host: "r".to_string(),
                    insecure: false,
                    username: None,
                },
                repository: "wasmesh/hello".to_string(),
                tag: "0.1.0-compat".to_string(),
                out: PathBuf::from("x.wasm"),
            }
        );
        assert!(parse(args("pull --registry r wasmesh/hello --out x")).is_err());
        let options = |host: &str| RegistryOptions {
            host: host.to_string(),
            insecure: false,
            username: None,
        };
        assert_eq!(
            options("ghcr.io/acme/").split().unwrap(),
            ("ghcr.io".to_string(), Some("acme".to_string()))
        );
        assert_eq!(
            options("127.0.0.1:5000").split().unwrap(),
            ("127.0.0.1:5000".to_string(), None)
        );
        assert_eq!(
            options("r/a/b").repository("wasmesh").unwrap(),
            "a/b/wasmesh"
        );
        assert!(options("/acme").split().is_err());
        assert!(options("r/Acme").split().is_err());
        assert!(parse(args("pull --registry r a:b")).is_err());
    }

    #[test]
    fn help_version_and_mistakes() {
        assert_eq!(parse(args("--help")).unwrap(), Command::Help);
        assert_eq!(parse(args("push --help")).unwrap(), Command::Help);
        assert_eq!(parse(args("--version")).unwrap(), Command::Version);
        assert!(parse(args("")).is_err());
        assert!(parse(args("frobnicate")).is_err());
        assert!(parse(args("push --registry r --bogus x")).is_err());
        assert!(parse(args("push --registry")).is_err());
    }
}
