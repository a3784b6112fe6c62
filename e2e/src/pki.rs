//! Test certificates, made with the `openssl` command-line tool: a
//! [`CertificateAuthority`] in a directory, and leaf certificates it issues with the
//! subject alternative names and extended key usages a test (or the demo mesh) needs.
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
//! Files: `ca.crt`, `ca.key`, and `<name>.crt`, `<name>.key` per issued certificate;
//! nothing else is left in the directory. Keys are ECDSA P-256 and readable by their
//! owner only. The CA is `O = <organization>, CN = <organization> CA`; a leaf is
//! `O = <organization>, CN = <name>`, not a CA, with key usage digitalSignature and
//! keyEncipherment, and a critical subjectAltName extension. The commands and options
//! work with OpenSSL 1.1 and 3 and with LibreSSL (macOS).

use std::path::{Path, PathBuf};
use std::process::Command;
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
    /// The name as written in an OpenSSL extension: `DNS:...` or `URI:...`.
    fn to_openssl(self) -> Result<String, String> {
        let (kind, value) = match self {
            Self::Dns(value) => ("DNS", value),
            Self::Uri(value) => ("URI", value),
        };
        if value.is_empty() || !value.bytes().all(is_plain_value_byte) {
            return Err(format!(
                "subject alternative name {kind}:{value:?}: use printable ASCII without spaces, `,`, `$`, `#`, quotes or `\\`"
            ));
        }
        Ok(format!("{kind}:{value}"))
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
    /// The usage's OpenSSL name.
    fn openssl_name(self) -> &'static str {
        match self {
            Self::ServerAuth => "serverAuth",
            Self::ClientAuth => "clientAuth",
        }
    }
}

/// A certificate authority whose key and certificate are `ca.key` and `ca.crt` in its
/// directory, where it also writes the certificates it issues.
#[derive(Debug)]
pub struct CertificateAuthority {
    dir: PathBuf,
    organization: String,
    valid_days: String,
    next_serial: u32,
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
        let authority = Self {
            dir: dir.to_path_buf(),
            organization: organization.to_owned(),
            valid_days: valid_days.to_string(),
            next_serial: 1,
            remove_on_drop: false,
        };
        authority.write_self_signed()?;
        Ok(authority)
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
        let alt_names = subject_alt_names
            .iter()
            .map(|alt_name| alt_name.to_openssl())
            .collect::<Result<Vec<_>, _>>()?;
        let usages: Vec<&str> = extended_key_usages
            .iter()
            .map(|usage| usage.openssl_name())
            .collect();
        let config = format!("{name}.cnf");
        let key = format!("{name}.key");
        let request = format!("{name}.csr");
        let certificate = format!("{name}.crt");
        write(
            &self.path(&config),
            &leaf_config(&self.organization, name, &alt_names, &usages),
        )?;
        self.generate_key(&key)?;
        openssl(
            &self.dir,
            &[
                "req", "-new", "-sha256", "-key", &key, "-config", &config, "-out", &request,
            ],
        )?;
        let serial = self.next_serial.to_string();
        self.next_serial = self.next_serial.saturating_add(1);
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-sha256",
                "-in",
                &request,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial,
                "-days",
                &self.valid_days,
                "-extfile",
                &config,
                "-extensions",
                "leaf",
                "-out",
                &certificate,
            ],
        )?;
        remove(&self.path(&request))?;
        remove(&self.path(&config))
    }

    /// Writes `ca.key` and the self-signed `ca.crt`.
    fn write_self_signed(&self) -> Result<(), String> {
        write(&self.path("ca.cnf"), &ca_config(&self.organization))?;
        self.generate_key("ca.key")?;
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-new",
                "-sha256",
                "-key",
                "ca.key",
                "-config",
                "ca.cnf",
                "-days",
                &self.valid_days,
                "-out",
                "ca.crt",
            ],
        )?;
        remove(&self.path("ca.cnf"))
    }

    /// Writes a new ECDSA P-256 private key to `file`, readable by its owner only.
    fn generate_key(&self, file: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        openssl(
            &self.dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                file,
            ],
        )?;
        let path = self.path(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))
    }
}

impl Drop for CertificateAuthority {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs `openssl args` in `dir` and returns what it printed; the error quotes what
/// openssl printed on stderr. Also useful to inspect certificates in tests
/// (`x509 -in a.crt -noout -text`, `verify -CAfile ca.crt a.crt`).
pub fn openssl(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            format!(
                "cannot run `openssl` ({e}): install OpenSSL (or LibreSSL) to make certificates"
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "`openssl {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// The CA's `openssl req` configuration.
fn ca_config(organization: &str) -> String {
    format!(
        "\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
O = {organization}
CN = {organization} CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"
    )
}

/// The `openssl req` configuration of a leaf, with the extensions of its certificate.
fn leaf_config(organization: &str, name: &str, alt_names: &[String], usages: &[&str]) -> String {
    format!(
        "\
[req]
distinguished_name = dn
prompt = no
[dn]
O = {organization}
CN = {name}
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = {}
subjectAltName = critical, {}
authorityKeyIdentifier = keyid
",
        usages.join(", "),
        alt_names.join(", ")
    )
}

/// A byte allowed in a certificate or organization name (also a file name).
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')
}

/// A byte allowed in a subject alternative name: one that needs no quoting in an
/// OpenSSL configuration file (`,` separates names, `$` expands variables, `#`
/// starts a comment).
fn is_plain_value_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !matches!(byte, b',' | b'$' | b'#' | b'"' | b'\'' | b'\\')
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn remove(path: &Path) -> Result<(), String> {
    std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(ca: &CertificateAuthority, certificate: &str) -> String {
        let text = openssl(ca.dir(), &["x509", "-in", certificate, "-noout", "-text"]).unwrap();
        String::from_utf8(text).unwrap()
    }

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

        let server = text_of(&ca, "server.crt");
        assert!(
            server.contains("DNS:orders.example.org, URI:spiffe://example.org/ns/shop/sa/orders"),
            "{server}"
        );
        assert!(server.contains("TLS Web Server Authentication"), "{server}");
        assert!(
            !server.contains("TLS Web Client Authentication"),
            "{server}"
        );
        assert!(server.contains("CA:FALSE"), "{server}");
        assert!(server.contains("Serial Number: 1 "), "{server}");
        let client = text_of(&ca, "two-names.crt");
        assert!(
            client.contains(
                "URI:spiffe://legacy.example/web, URI:spiffe://example.org/ns/web/sa/frontend"
            ),
            "{client}"
        );
        assert!(client.contains("TLS Web Client Authentication"), "{client}");
        assert!(
            !client.contains("TLS Web Server Authentication"),
            "{client}"
        );
        assert!(client.contains("Serial Number: 2 "), "{client}");
        let authority = text_of(&ca, "ca.crt");
        assert!(authority.contains("CN = wasmesh test CA"), "{authority}");
        assert!(authority.contains("CA:TRUE"), "{authority}");

        let verified = openssl(
            ca.dir(),
            &["verify", "-CAfile", "ca.crt", "server.crt", "two-names.crt"],
        )
        .unwrap();
        let verified = String::from_utf8(verified).unwrap();
        assert!(verified.contains("server.crt: OK"), "{verified}");
        assert!(verified.contains("two-names.crt: OK"), "{verified}");
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
            use std::os::unix::fs::PermissionsExt;
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
    fn names_that_would_change_the_openssl_configuration_are_refused() {
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
