//! A snapshot: the declarative file with every version's module read,
//! checked and turned into an ECDS resource, ready to serve to any node.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::declaration::{
    self, CanaryReach, CodeDelivery, Declaration, FilterSpec, Node, VersionSpec,
};
use crate::resource::{self, Code, Resource};
use crate::wasm_check;

/// One version of one filter, as loaded.
#[derive(Debug, Clone)]
pub struct BuiltVersion {
    /// The version as declared.
    pub spec: VersionSpec,
    /// The module's size in bytes, when it could be read.
    pub wasm_bytes: Option<usize>,
    /// The resource to send, or why this version cannot be sent.
    pub outcome: Result<Resource, String>,
}

/// One filter, as loaded.
#[derive(Debug, Clone)]
pub struct BuiltFilter {
    /// The filter as declared.
    pub spec: FilterSpec,
    /// Its versions, in the order of `spec.versions`.
    pub versions: Vec<BuiltVersion>,
}

impl BuiltFilter {
    /// The version labelled `label`, as loaded.
    pub fn selection(&self, label: &str) -> Option<Selection<'_>> {
        let built = self.versions.iter().find(|v| v.spec.label == label)?;
        Some(Selection {
            version: &built.spec.label,
            outcome: &built.outcome,
        })
    }
}

/// What a node should run for one filter.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// The selected version's label.
    pub version: &'a str,
    /// Its resource, or why it cannot be sent.
    pub outcome: &'a Result<Resource, String>,
}

/// The declarative file and every module it names, loaded at one time.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The declarative file.
    pub path: PathBuf,
    /// Counts successful loads, from 1.
    pub generation: u64,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// The filters, sorted by name.
    pub filters: Vec<BuiltFilter>,
    /// How far each filter's canary has got (set by [`crate::canary`]); a
    /// filter with a canary but no entry is at its first stage.
    pub reach: BTreeMap<String, CanaryReach>,
}

impl Snapshot {
    /// The filter called `name`.
    pub fn filter(&self, name: &str) -> Option<&BuiltFilter> {
        self.filters.iter().find(|f| f.spec.name == name)
    }

    /// What `node` should run for the filter `name`; `None` for a filter the
    /// declarative file does not have.
    pub fn select(&self, name: &str, node: &Node) -> Option<Selection<'_>> {
        let filter = self.filter(name)?;
        let label = filter.spec.version_for(node, self.reach.get(name).copied());
        filter.selection(label)
    }

    /// Every file whose change means a reload: the declarative file and each module.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        for filter in &self.filters {
            for version in &filter.versions {
                if !files.contains(&version.spec.wasm) {
                    files.push(version.spec.wasm.clone());
                }
            }
        }
        files
    }

    /// Versions that cannot be sent, as (filter, version, reason).
    pub fn invalid_versions(&self) -> Vec<(&str, &str, &str)> {
        self.filters
            .iter()
            .flat_map(|filter| {
                filter.versions.iter().filter_map(|version| {
                    version.outcome.as_ref().err().map(|reason| {
                        (
                            filter.spec.name.as_str(),
                            version.spec.label.as_str(),
                            reason.as_str(),
                        )
                    })
                })
            })
            .collect()
    }
}

/// Loads the declarative file at `path` and every module it names. A bad
/// declarative file is an error; a bad module only makes its version unsendable.
pub fn load(path: &Path, generation: u64) -> Result<Snapshot, String> {
    let declaration = declaration::load(path)?;
    Ok(build(path, generation, declaration))
}

/// Reads and checks every module of `declaration`.
pub fn build(path: &Path, generation: u64, declaration: Declaration) -> Snapshot {
    let filters = declaration
        .filters
        .into_iter()
        .map(|spec| {
            let versions = spec
                .versions
                .iter()
                .map(|version| build_version(&spec, version))
                .collect();
            BuiltFilter { spec, versions }
        })
        .collect();
    Snapshot {
        path: path.to_path_buf(),
        generation,
        loaded_at: SystemTime::now(),
        filters,
        reach: BTreeMap::new(),
    }
}

fn build_version(filter: &FilterSpec, version: &VersionSpec) -> BuiltVersion {
    let wasm = version.wasm.display().to_string();
    if filter.code == CodeDelivery::File && !version.wasm.is_absolute() {
        return BuiltVersion {
            spec: version.clone(),
            wasm_bytes: None,
            outcome: Err(format!(
                "{wasm}: code \"file\" needs an absolute path, as Envoy opens the file itself"
            )),
        };
    }
    let bytes = match std::fs::read(&version.wasm) {
        Ok(bytes) => bytes,
        Err(error) => {
            return BuiltVersion {
                spec: version.clone(),
                wasm_bytes: None,
                outcome: Err(format!("{wasm}: cannot read: {error}")),
            }
        }
    };
    let outcome = wasm_check::check(&bytes)
        .map_err(|reason| format!("{wasm}: {reason}"))
        .map(|_| {
            let module_fingerprint = resource::fingerprint(&bytes);
            let code = match filter.code {
                CodeDelivery::Inline => Code::Inline(&bytes),
                CodeDelivery::File => Code::File {
                    path: &wasm,
                    module_fingerprint: &module_fingerprint,
                },
            };
            resource::wasm_filter(&filter.name, &version.config, filter.failure_policy, code)
        });
    BuiltVersion {
        spec: version.clone(),
        wasm_bytes: Some(bytes.len()),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// A minimal module that passes [`wasm_check::check`].
    pub(crate) const MODULE: &[u8] = wasm_check::MINIMAL_MODULE;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wasmesh-cp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn good_and_bad_modules_and_selection() {
        let dir = temp_dir("snapshot");
        std::fs::write(dir.join("good.wasm"), MODULE).unwrap();
        std::fs::write(dir.join("bad.wasm"), b"garbage, not a wasm module").unwrap();
        let file = dir.join("cp.json");
        std::fs::write(
            &file,
            r#"{"filters": {"hello": {
                "versions": {
                    "v1": {"wasm": "good.wasm", "config": {"greeting": "one"}},
                    "v2": {"wasm": "bad.wasm", "config": {}},
                    "v3": {"wasm": "missing.wasm", "config": {}}
                },
                "serve": "v1",
                "rollouts": [{"version": "v2", "node_ids": ["b"]}]
            }}}"#,
        )
        .unwrap();
        let snapshot = load(&file, 7).unwrap();
        assert_eq!(snapshot.generation, 7);
        let a = snapshot.select("hello", &Node::new("a", "c")).unwrap();
        assert_eq!(a.version, "v1");
        assert!(a.outcome.is_ok());
        let b = snapshot.select("hello", &Node::new("b", "c")).unwrap();
        assert_eq!(b.version, "v2");
        assert!(b
            .outcome
            .as_ref()
            .unwrap_err()
            .contains("not a valid wasm module"));
        assert!(snapshot.select("other", &Node::new("a", "c")).is_none());
        let invalid = snapshot.invalid_versions();
        assert_eq!(invalid.len(), 2);
        assert!(invalid[1].2.contains("cannot read"), "{invalid:?}");
        assert_eq!(
            snapshot.watched_files(),
            vec![
                file.clone(),
                dir.join("good.wasm"),
                dir.join("bad.wasm"),
                dir.join("missing.wasm")
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn file_delivery_needs_an_absolute_path() {
        let declaration = declaration::parse(
            r#"{"filters": {"h": {"versions": {"v1": {"wasm": "m.wasm", "config": {}}},
                "serve": "v1", "code": "file"}}}"#,
            Path::new("relative/dir"),
        )
        .unwrap();
        let snapshot = build(Path::new("relative/dir/cp.json"), 1, declaration);
        let error = snapshot.filters[0].versions[0]
            .outcome
            .as_ref()
            .unwrap_err();
        assert!(error.contains("needs an absolute path"), "{error}");
    }

    #[test]
    fn a_bad_declarative_file_is_an_error() {
        let dir = temp_dir("bad-declaration");
        let file = dir.join("cp.json");
        std::fs::write(&file, "{").unwrap();
        assert!(load(&file, 1).unwrap_err().contains("cp.json"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
