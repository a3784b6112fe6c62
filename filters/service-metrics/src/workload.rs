//! The workload a sidecar runs beside, as Istio describes it in Envoy's node metadata.
//!
//! Istio's agent starts every sidecar's Envoy with the workload in `node.metadata`:
//! `WORKLOAD_NAME`, `NAMESPACE`, `CLUSTER_ID` and the pod's labels (`LABELS`, a struct), so
//! a filter can name its own workload without being told in its configuration. Filters
//! read it once, when configured ([`Workload::from_node_metadata`], through the [`Host`]
//! the filter is compiled with), never per request.
//!
//! Envoy serves the node to Wasm as the attribute `xds.node` (the older `node` finds
//! nothing when a plugin is configured), and one label by its path below the `LABELS`
//! struct (`xds.node.metadata.LABELS.app`).
//!
//! The canonical service and revision are resolved as Istio resolves them: the label
//! `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`, else the
//! workload name; `service.istio.io/canonical-revision`, else `app.kubernetes.io/version`,
//! else `version` (Istio then says `latest`).

use wasmesh_sdk::Host;

/// What the node metadata says about the local workload; `None`: absent, empty or not
/// UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// `WORKLOAD_NAME`, e.g. `reviews-v1` (the Deployment's name).
    pub name: Option<String>,
    /// `NAMESPACE`.
    pub namespace: Option<String>,
    /// The canonical service: the label `service.istio.io/canonical-name`, else
    /// `app.kubernetes.io/name`, else `app`, else `name`.
    pub service: Option<String>,
    /// The canonical revision: the label `service.istio.io/canonical-revision`, else
    /// `app.kubernetes.io/version`, else `version`.
    pub revision: Option<String>,
    /// The label `app`.
    pub app: Option<String>,
    /// The label `version`.
    pub version: Option<String>,
    /// `CLUSTER_ID`, e.g. `Kubernetes`.
    pub cluster: Option<String>,
}

/// The attribute path of the node metadata; an entry's path follows.
const METADATA: &[&str] = &["xds", "node", "metadata"];

/// Entries below `node.metadata` (`["LABELS", <label>]` for a label).
const NAME: &[&str] = &["WORKLOAD_NAME"];
const APP: &[&str] = &["LABELS", "app"];
const VERSION: &[&str] = &["LABELS", "version"];

/// Each field of [`Workload`], in declaration order: the entries tried in turn, the first
/// with a non-empty value wins.
const FIELDS: [&[&[&str]]; 7] = [
    &[NAME],
    &[&["NAMESPACE"]],
    &[
        &["LABELS", "service.istio.io/canonical-name"],
        &["LABELS", "app.kubernetes.io/name"],
        APP,
        NAME,
    ],
    &[
        &["LABELS", "service.istio.io/canonical-revision"],
        &["LABELS", "app.kubernetes.io/version"],
        VERSION,
    ],
    &[APP],
    &[VERSION],
    &[&["CLUSTER_ID"]],
];

impl Workload {
    /// Resolves the workload from the entries of `node.metadata` that `entry` returns by
    /// their path below it (`["NAMESPACE"]`, `["LABELS", "app"]`), as raw bytes.
    pub fn from_metadata<B: AsRef<[u8]>>(entry: impl Fn(&[&str]) -> Option<B>) -> Self {
        let [name, namespace, service, revision, app, version, cluster] = FIELDS.map(|paths| {
            paths.iter().find_map(|path| {
                entry(path)
                    .and_then(|value| std::str::from_utf8(value.as_ref()).ok().map(str::to_owned))
                    .filter(|value| !value.is_empty())
            })
        });
        Self {
            name,
            namespace,
            service,
            revision,
            app,
            version,
            cluster,
        }
    }

    /// Reads Envoy's node metadata (`xds.node.metadata`; one attribute read per entry
    /// tried) through `host`, so call it when configured, not per request.
    pub fn from_node_metadata(host: &dyn Host) -> Self {
        Self::from_metadata(|entry| host.attribute(&[METADATA, entry].concat()))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The workload resolved from these `node.metadata` fields and `LABELS`.
    fn resolve(fields: &[(&str, &str)], labels: &[(&str, &str)]) -> Workload {
        let entries: Vec<(Vec<&str>, &str)> = fields
            .iter()
            .map(|(key, value)| (vec![*key], *value))
            .chain(
                labels
                    .iter()
                    .map(|(key, value)| (vec!["LABELS", *key], *value)),
            )
            .collect();
        Workload::from_metadata(|path| {
            entries
                .iter()
                .find(|(key, _)| key == path)
                .map(|(_, value)| value.as_bytes())
        })
    }

    #[test]
    fn nothing_names_nothing() {
        assert_eq!(resolve(&[], &[]), Workload::default());
        assert_eq!(
            Workload::from_metadata(|_| None::<Vec<u8>>),
            Workload::default()
        );
    }

    #[test]
    fn istio_fields_and_labels() {
        let w = resolve(
            &[
                ("WORKLOAD_NAME", "reviews-v1"),
                ("NAMESPACE", "shop"),
                ("CLUSTER_ID", "east"),
            ],
            &[
                ("version", "1.2"),
                ("service.istio.io/canonical-name", "reviews"),
                ("service.istio.io/canonical-revision", "v1"),
                ("app", "reviews-app"),
            ],
        );
        let expected = Workload {
            name: Some("reviews-v1".into()),
            namespace: Some("shop".into()),
            service: Some("reviews".into()),
            revision: Some("v1".into()),
            app: Some("reviews-app".into()),
            version: Some("1.2".into()),
            cluster: Some("east".into()),
        };
        assert_eq!(w, expected);
    }

    #[test]
    fn canonical_names_fall_back_in_istio_order() {
        let name = [("WORKLOAD_NAME", "reviews-v1")];
        let service = |labels: &[(&str, &str)]| resolve(&name, labels).service;
        let k8s = ("app.kubernetes.io/name", "k8s-name");
        let app = ("app", "app-label");
        assert_eq!(service(&[app, k8s]).as_deref(), Some("k8s-name"));
        assert_eq!(service(&[app]).as_deref(), Some("app-label"));
        assert_eq!(service(&[]).as_deref(), Some("reviews-v1"));
        assert_eq!(resolve(&[], &[app]).service.as_deref(), Some("app-label"));
        assert_eq!(resolve(&[], &[]).service, None);
        // An empty label counts as absent.
        let empty = ("service.istio.io/canonical-name", "");
        assert_eq!(service(&[empty, app]).as_deref(), Some("app-label"));

        let revision = |labels: &[(&str, &str)]| resolve(&name, labels).revision;
        let k8s = ("app.kubernetes.io/version", "2.0");
        let version = ("version", "v2");
        assert_eq!(revision(&[version, k8s]).as_deref(), Some("2.0"));
        assert_eq!(revision(&[version]).as_deref(), Some("v2"));
        assert_eq!(revision(&[]), None);
    }

    #[test]
    fn values_that_are_not_utf8_are_absent() {
        let w = Workload::from_metadata(|_| Some(vec![0xff]));
        assert_eq!(w, Workload::default());
    }
}
