//! The workload a sidecar runs beside, as Istio describes it in Envoy's node metadata.
//!
//! Istio's agent starts every sidecar's Envoy with the workload in `node.metadata`:
//! `WORKLOAD_NAME`, `NAMESPACE`, `CLUSTER_ID` and the pod's labels (`LABELS`, a struct), so
//! a filter can name its own workload without being told in its configuration. Filters
//! read it once, when configured ([`Workload::from_node_metadata`]), never per request.
//!
//! Envoy serves the node to Wasm as the attribute `xds.node` (the older `node` finds
//! nothing when a plugin is configured), and one label by its path below the `LABELS`
//! struct (`xds.node.metadata.LABELS.app`).
//!
//! The canonical service and revision are resolved as Istio resolves them: the label
//! `service.istio.io/canonical-name`, else `app.kubernetes.io/name`, else `app`, else the
//! workload name; `service.istio.io/canonical-revision`, else `app.kubernetes.io/version`,
//! else `version` (Istio then says `latest`).

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

/// The property path of the node metadata, encoded as
/// [`crate::wire::encode_property_path`] encodes it; an entry's path follows.
#[cfg(feature = "host")]
const METADATA: &[u8] = b"xds\0node\0metadata\0";

/// Entries below `node.metadata` (encoded paths, `LABELS\0<label>` for a label).
const NAME: &[u8] = b"WORKLOAD_NAME";
const APP: &[u8] = b"LABELS\0app";
const VERSION: &[u8] = b"LABELS\0version";

/// Each field of [`Workload`], in declaration order: the entries tried in turn, the first
/// with a non-empty value wins.
const FIELDS: [&[&[u8]]; 7] = [
    &[NAME],
    &[b"NAMESPACE"],
    &[
        b"LABELS\0service.istio.io/canonical-name",
        b"LABELS\0app.kubernetes.io/name",
        APP,
        NAME,
    ],
    &[
        b"LABELS\0service.istio.io/canonical-revision",
        b"LABELS\0app.kubernetes.io/version",
        VERSION,
    ],
    &[APP],
    &[VERSION],
    &[b"CLUSTER_ID"],
];

impl Workload {
    /// Resolves the workload from the entries of `node.metadata` that `entry` returns by
    /// their encoded path below it (`NAMESPACE`, `LABELS\0app`).
    pub fn from_metadata(entry: impl Fn(&[u8]) -> Option<Vec<u8>>) -> Self {
        let [name, namespace, service, revision, app, version, cluster] = FIELDS.map(|paths| {
            paths.iter().find_map(|path| {
                entry(path)
                    .and_then(|value| String::from_utf8(value).ok())
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

    /// Reads Envoy's node metadata (`xds.node.metadata`; one property read per entry
    /// tried), so call it when configured, not per request.
    #[cfg(feature = "host")]
    pub fn from_node_metadata() -> Self {
        Self::from_metadata(|path| crate::host::property_at(&[METADATA, path].concat()))
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    /// The workload resolved from these `node.metadata` fields and `LABELS`.
    fn resolve(fields: &[(&str, &str)], labels: &[(&str, &str)]) -> Workload {
        let entries: Vec<(Vec<u8>, &str)> = fields
            .iter()
            .map(|(key, value)| (key.as_bytes().to_vec(), *value))
            .chain(
                labels
                    .iter()
                    .map(|(key, value)| ([b"LABELS\0", key.as_bytes()].concat(), *value)),
            )
            .collect();
        Workload::from_metadata(|path| {
            entries
                .iter()
                .find(|(key, _)| key == path)
                .map(|(_, value)| value.as_bytes().to_vec())
        })
    }

    #[test]
    fn nothing_names_nothing() {
        assert_eq!(resolve(&[], &[]), Workload::default());
        assert_eq!(Workload::from_metadata(|_| None), Workload::default());
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
