//! Test certificates, made with the `rcgen` crate: a [`CertificateAuthority`] in a
//! directory, and leaf certificates it issues with the subject alternative names and
//! extended key usages a test (or the demo mesh) needs. [`inspect`] and
//! [`verify_issued_by`] read them back (with `x509-parser`) for tests.
//!
//! ```no_run
//! use wasmesh_e2e::pki::{CertificateAuthority, ExtendedKeyUsage, SubjectAltName};
//!
//! let mut ca = CertificateAuthority::create_temporary("my-test", "wasmesh test", 1)?;
//! ca.issue(
//!     "server",
//!     &[SubjectAltName::Dns("orders.example.org")],
//!     &[ExtendedKeyUsage::ServerAuth],
//! )?;
//! let chain = ca.path("server.crt"); // and server.key, ca.crt, ca.key
//! # Ok::<(), String>(())
//! ```
//!
//! Files (PEM): `ca.crt`, `ca.key`, and `<name>.crt`, `<name>.key` per issued
//! certificate; nothing else is written to the directory. Keys are ECDSA P-256 (PKCS#8)
//! and readable by their owner only. The CA is `O = <organization>, CN = <organization>
//! CA`, with a critical basicConstraints `CA:TRUE` and key usage keyCertSign and cRLSign;
//! a leaf is `O = <organization>, CN = <name>`, serial numbers 1, 2, … in issue order, a
//! critical basicConstraints `CA:FALSE`, key usage digitalSignature and keyEncipherment,
//! its subjectAltName and extendedKeyUsage, and the CA's key identifier. Every
//! certificate is valid from its creation for the given number of days.

use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A subject alternative name of a leaf certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectAltName<'a> {
    /// A DNS name (`DNS:orders.example.org`), for a server's host name.
    Dns(&'a str),
    /// A URI (`URI:spiffe://example.org/ns/shop/sa/frontend`), such as a SPIFFE ID.
    Uri(&'a str),
}

impl SubjectAltName<'_> {
    /// The name as a certificate holds it; printable ASCII without spaces, `,`, `$`,
    /// `#`, quotes or `\` (names that tools printing certificates show unambiguously).
    fn to_san(self) -> Result<SanType, String> {
        let (kind, value) = match self {
            Self::Dns(value) => ("DNS", value),
            Self::Uri(value) => ("URI", value),
        };
        let refused = || {
            format!(
                "subject alternative name {kind}:{value:?}: use printable ASCII without spaces, `,`, `$`, `#`, quotes or `\\`"
            )
        };
        if value.is_empty() || !value.bytes().all(is_plain_value_byte) {
            return Err(refused());
        }
        let value = Ia5String::try_from(value).map_err(|_| refused())?;
        Ok(match self {
            Self::Dns(_) => SanType::DnsName(value),
            Self::Uri(_) => SanType::URI(value),
        })
    }
}

/// What a leaf certificate may be used for (its extendedKeyUsage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtendedKeyUsage {
    /// TLS server authentication (`serverAuth`).
    ServerAuth,
    /// TLS client authentication (`clientAuth`).
    ClientAuth,
}

impl ExtendedKeyUsage {
    /// The usage as rcgen names it.
    fn purpose(self) -> rcgen::ExtendedKeyUsagePurpose {
        match self {
            Self::ServerAuth => rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            Self::ClientAuth => rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        }
    }
}

/// A certificate authority whose key and certificate are `ca.key` and `ca.crt` in its
/// directory, where it also writes the certificates it issues.
#[derive(Debug)]
pub struct CertificateAuthority {
    dir: PathBuf,
    organization: String,
    valid_days: u32,
    /// The CA's name and key, which sign the leaves.
    issuer: Issuer<'static, KeyPair>,
    next_serial: u64,
    /// Whether the directory is removed when the authority is dropped.
    remove_on_drop: bool,
}

impl CertificateAuthority {
    /// Creates a CA named `<organization> CA` in `dir` (which must exist), its
    /// certificate and every certificate it issues valid for `valid_days`. The files
    /// stay when the authority is dropped.
    pub fn create(dir: &Path, organization: &str, valid_days: u32) -> Result<Self, String> {
        if organization.is_empty() || !organization.bytes().all(|b| b == b' ' || is_name_byte(b)) {
            return Err(format!(
                "organization {organization:?}: use ASCII letters, digits, spaces, `.`, `_` and `-`"
            ));
        }
        let mut params = params(organization, &format!("{organization} CA"), valid_days)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = new_key()?;
        let certificate = params
            .self_signed(&key)
            .map_err(|e| format!("cannot make the CA certificate: {e}"))?;
        write_key(&dir.join("ca.key"), &key)?;
        write(&dir.join("ca.crt"), &certificate.pem())?;
        Ok(Self {
            dir: dir.to_path_buf(),
            organization: organization.to_owned(),
            valid_days,
            issuer: Issuer::new(params, key),
            next_serial: 1,
            remove_on_drop: false,
        })
    }

    /// Like [`CertificateAuthority::create`], in a fresh directory under the system's
    /// temporary directory whose name starts with `wasmesh-<label>-`; the directory and
    /// everything in it are removed when the authority is dropped.
    pub fn create_temporary(
        label: &str,
        organization: &str,
        valid_days: u32,
    ) -> Result<Self, String> {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wasmesh-{label}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        match Self::create(&dir, organization, valid_days) {
            Ok(mut authority) => {
                authority.remove_on_drop = true;
                Ok(authority)
            }
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(error)
            }
        }
    }

    /// The directory holding the authority's files and the issued certificates.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `file` in [`CertificateAuthority::dir`], e.g. `ca.crt`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Issues `<name>.crt` and `<name>.key`: a certificate for `CN = <name>` with these
    /// subject alternative names (in this order) and extended key usages. `name` is
    /// made of ASCII letters, digits, `.`, `_` and `-`.
    pub fn issue(
        &mut self,
        name: &str,
        subject_alt_names: &[SubjectAltName],
        extended_key_usages: &[ExtendedKeyUsage],
    ) -> Result<(), String> {
        if name.is_empty() || name == "ca" || !name.bytes().all(is_name_byte) {
            return Err(format!(
                "certificate name {name:?}: use ASCII letters, digits, `.`, `_` and `-` (and not `ca`)"
            ));
        }
        if subject_alt_names.is_empty() || extended_key_usages.is_empty() {
            return Err(format!(
                "certificate {name}: give at least one subject alternative name and one extended key usage"
            ));
        }
        let mut params = params(&self.organization, name, self.valid_days)?;
        params.subject_alt_names = subject_alt_names
            .iter()
            .map(|alt_name| alt_name.to_san())
            .collect::<Result<_, _>>()?;
        params.extended_key_usages = extended_key_usages
            .iter()
            .map(|usage| usage.purpose())
            .collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(self.next_serial));
        let key = new_key()?;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| format!("cannot make certificate {name}: {e}"))?;
        self.next_serial = self.next_serial.saturating_add(1);
        write_key(&self.path(&format!("{name}.key")), &key)?;
        write(&self.path(&format!("{name}.crt")), &certificate.pem())
    }
}

impl Drop for CertificateAuthority {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// What a certificate says, as [`inspect`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject, e.g. `O=wasmesh test, CN=server`.
    pub subject: String,
    /// The issuer's name, in the same form.
    pub issuer: String,
    /// The serial number's bytes, big-endian as encoded (`[1]` for serial 1).
    pub serial: Vec<u8>,
    /// Whether basicConstraints says it is a CA.
    pub is_ca: bool,
    /// The subject alternative names in order, as `DNS:<name>` or `URI:<uri>`.
    pub subject_alt_names: Vec<String>,
    /// The extended key usages among those of [`ExtendedKeyUsage`].
    pub extended_key_usages: Vec<ExtendedKeyUsage>,
    /// Whether the certificate is valid now.
    pub valid_now: bool,
}

/// Reads the PEM certificate at `path`.
pub fn inspect(path: &Path) -> Result<CertificateInfo, String> {
    let pem = read_pem(path)?;
    let certificate = parse(&pem, path)?;
    let bad = |e: x509_parser::error::X509Error| format!("{}: {e}", path.display());
    let subject_alt_names = certificate
        .subject_alternative_name()
        .map_err(bad)?
        .map(|extension| {
            extension
                .value
                .general_names
                .iter()
                .map(|name| match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                    x509_parser::extensions::GeneralName::URI(uri) => format!("URI:{uri}"),
                    other => format!("{other:?}"),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut extended_key_usages = Vec::new();
    if let Some(usages) = certificate.extended_key_usage().map_err(bad)? {
        if usages.value.server_auth {
            extended_key_usages.push(ExtendedKeyUsage::ServerAuth);
        }
        if usages.value.client_auth {
            extended_key_usages.push(ExtendedKeyUsage::ClientAuth);
        }
    }
    Ok(CertificateInfo {
        subject: certificate.subject().to_string(),
        issuer: certificate.issuer().to_string(),
        serial: certificate.raw_serial().to_vec(),
        is_ca: certificate.is_ca(),
        subject_alt_names,
        extended_key_usages,
        valid_now: certificate.validity().is_valid(),
    })
}

/// Checks that the PEM certificate at `certificate` names the one at `ca` as its issuer,
/// is signed by its key and is valid now; the error says which check failed.
pub fn verify_issued_by(certificate: &Path, ca: &Path) -> Result<(), String> {
    let (leaf_pem, ca_pem) = (read_pem(certificate)?, read_pem(ca)?);
    let (leaf, authority) = (parse(&leaf_pem, certificate)?, parse(&ca_pem, ca)?);
    if leaf.issuer() != authority.subject() {
        return Err(format!(
            "{}: issued by {}, not by {} ({})",
            certificate.display(),
            leaf.issuer(),
            authority.subject(),
            ca.display()
        ));
    }
    leaf.verify_signature(Some(authority.public_key()))
        .map_err(|e| {
            format!(
                "{}: not signed by the key of {}: {e}",
                certificate.display(),
                ca.display()
            )
        })?;
    if !leaf.validity().is_valid() {
        return Err(format!("{}: not valid now", certificate.display()));
    }
    Ok(())
}

/// Parameters with the subject `O = organization, CN = common_name`, valid from now for
/// `valid_days`.
fn params(
    organization: &str,
    common_name: &str,
    valid_days: u32,
) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, organization);
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now
        .checked_add(time::Duration::days(i64::from(valid_days)))
        .ok_or_else(|| format!("{valid_days} days from now is past the calendar"))?;
    Ok(params)
}

/// A new ECDSA P-256 key.
fn new_key() -> Result<KeyPair, String> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("cannot generate a key: {e}"))
}

/// Writes `key` as PEM to `path`, readable by its owner only from the start.
fn write_key(path: &Path, key: &KeyPair) -> Result<(), String> {
    let error = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(key.serialize_pem().as_bytes()))
        .map_err(error)?;
    // An existing file keeps its mode through `open`.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(error)
}

/// The PEM block of the file at `path`.
fn read_pem(path: &Path) -> Result<x509_parser::pem::Pem, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    x509_parser::pem::parse_x509_pem(&text)
        .map(|(_, pem)| pem)
        .map_err(|e| format!("{}: not PEM: {e}", path.display()))
}

/// The certificate in `pem`, read from `path`.
fn parse<'a>(
    pem: &'a x509_parser::pem::Pem,
    path: &Path,
) -> Result<x509_parser::certificate::X509Certificate<'a>, String> {
    pem.parse_x509()
        .map_err(|e| format!("{}: not an X.509 certificate: {e}", path.display()))
}

/// A byte allowed in a certificate or organization name (also a file name).
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')
}

/// A byte allowed in a subject alternative name.
fn is_plain_value_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b',' | b'$' | b'#' | b'"' | b'\'' | b'\\')
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn issued_certificates_carry_their_names_and_usages_and_verify() {
        let mut ca = CertificateAuthority::create_temporary("pki-test", "wasmesh test", 1).unwrap();
        ca.issue(
            "server",
            &[
                SubjectAltName::Dns("orders.example.org"),
                SubjectAltName::Uri("spiffe://example.org/ns/shop/sa/orders"),
            ],
            &[ExtendedKeyUsage::ServerAuth],
        )
        .unwrap();
        ca.issue(
            "two-names",
            &[
                SubjectAltName::Uri("spiffe://legacy.example/web"),
                SubjectAltName::Uri("spiffe://example.org/ns/web/sa/frontend"),
            ],
            &[ExtendedKeyUsage::ClientAuth],
        )
        .unwrap();

        let server = inspect(&ca.path("server.crt")).unwrap();
        assert_eq!(
            server.subject_alt_names,
            [
                "DNS:orders.example.org",
                "URI:spiffe://example.org/ns/shop/sa/orders"
            ]
        );
        assert_eq!(server.extended_key_usages, [ExtendedKeyUsage::ServerAuth]);
        assert!(!server.is_ca);
        assert_eq!(server.serial, [1]);
        assert_eq!(server.subject, "O=wasmesh test, CN=server");
        assert_eq!(server.issuer, "O=wasmesh test, CN=wasmesh test CA");
        assert!(server.valid_now);
        let client = inspect(&ca.path("two-names.crt")).unwrap();
        assert_eq!(
            client.subject_alt_names,
            [
                "URI:spiffe://legacy.example/web",
                "URI:spiffe://example.org/ns/web/sa/frontend"
            ]
        );
        assert_eq!(client.extended_key_usages, [ExtendedKeyUsage::ClientAuth]);
        assert_eq!(client.serial, [2]);
        let authority = inspect(&ca.path("ca.crt")).unwrap();
        assert_eq!(authority.subject, "O=wasmesh test, CN=wasmesh test CA");
        assert!(authority.is_ca);

        for leaf in ["server.crt", "two-names.crt", "ca.crt"] {
            verify_issued_by(&ca.path(leaf), &ca.path("ca.crt")).unwrap();
        }
        let other = CertificateAuthority::create_temporary("pki-test", "wasmesh test", 1).unwrap();
        let error = verify_issued_by(&ca.path("server.crt"), &other.path("ca.crt")).unwrap_err();
        assert!(error.contains("not signed by the key"), "{error}");
        let key = std::fs::read_to_string(ca.path("server.key")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");

        assert_eq!(
            files_in(ca.dir()),
            [
                "ca.crt",
                "ca.key",
                "server.crt",
                "server.key",
                "two-names.crt",
                "two-names.key"
            ]
        );
        for key in ["ca.key", "server.key", "two-names.key"] {
            let mode = std::fs::metadata(ca.path(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }

    #[test]
    fn a_temporary_authority_removes_its_directory_and_a_created_one_does_not() {
        let ca = CertificateAuthority::create_temporary("pki-test", "wasmesh test", 1).unwrap();
        let dir = ca.dir().to_path_buf();
        assert!(dir.join("ca.crt").is_file());
        drop(ca);
        assert!(!dir.exists());

        std::fs::create_dir_all(&dir).unwrap();
        let ca = CertificateAuthority::create(&dir, "wasmesh test", 1).unwrap();
        drop(ca);
        assert_eq!(files_in(&dir), ["ca.crt", "ca.key"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unusual_names_are_refused() {
        let mut ca = CertificateAuthority::create_temporary("pki-test", "wasmesh test", 1).unwrap();
        let server = [ExtendedKeyUsage::ServerAuth];
        for name in ["", "ca", "../x", "a b", "a\nb"] {
            let error = ca
                .issue(name, &[SubjectAltName::Dns("example.org")], &server)
                .unwrap_err();
            assert!(error.contains("certificate name"), "{error}");
        }
        for alt_name in [
            SubjectAltName::Dns(""),
            SubjectAltName::Dns("a.example, DNS:b.example"),
            SubjectAltName::Uri("spiffe://example.org/$HOME"),
            SubjectAltName::Uri("spiffe://example.org/a\nCN = b"),
            SubjectAltName::Uri("spiffe://example.org/é"),
        ] {
            let error = ca.issue("leaf", &[alt_name], &server).unwrap_err();
            assert!(error.contains("subject alternative name"), "{error}");
        }
        assert!(ca.issue("leaf", &[], &server).is_err());
        assert!(ca
            .issue("leaf", &[SubjectAltName::Dns("example.org")], &[])
            .is_err());
        assert!(CertificateAuthority::create(ca.dir(), "bad\norganization", 1).is_err());
        assert_eq!(files_in(ca.dir()), ["ca.crt", "ca.key"]);
    }
}
