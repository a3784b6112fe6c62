//! The mesh's certificates, made with the `openssl` command at start-up: a CA, and for
//! every workload a key and a certificate whose only identity is the URI SAN
//! `spiffe://wasmesh.local/ns/demo/sa/<name>` (an X.509 SVID), usable as client and as
//! server certificate.
//!
//! Files: `ca.crt`, `ca.key`, `<name>.crt`, `<name>.key`. Keys are ECDSA P-256; the
//! certificates are valid for 30 days. The commands and options used work with
//! OpenSSL 1.1 and 3 and with LibreSSL (macOS).

use crate::topology::spiffe_id;
use std::path::Path;
use std::process::Command;

/// How long the certificates are valid.
const VALID_DAYS: &str = "30";

/// The CA's `openssl req` configuration.
const CA_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
O = wasmesh demo
CN = wasmesh demo CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
";

/// The `openssl req` configuration of a workload, with the extensions of its certificate.
fn workload_config(name: &str) -> String {
    format!(
        "\
[req]
distinguished_name = dn
prompt = no
[dn]
O = wasmesh demo
CN = {name}
[svid]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = critical, URI:{}
authorityKeyIdentifier = keyid
",
        spiffe_id(name)
    )
}

/// Writes the CA and one key and certificate per workload into `dir` (which must exist).
pub fn generate(dir: &Path, workloads: &[&str]) -> Result<(), String> {
    write(&dir.join("ca.cnf"), CA_CONFIG)?;
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    )?;
    openssl(
        dir,
        &[
            "req", "-x509", "-new", "-sha256", "-key", "ca.key", "-config", "ca.cnf", "-days",
            VALID_DAYS, "-out", "ca.crt",
        ],
    )?;
    for (serial, name) in (1u32..).zip(workloads) {
        let config = format!("{name}.cnf");
        let key = format!("{name}.key");
        let request = format!("{name}.csr");
        let certificate = format!("{name}.crt");
        write(&dir.join(&config), &workload_config(name))?;
        openssl(
            dir,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        )?;
        openssl(
            dir,
            &[
                "req", "-new", "-sha256", "-key", &key, "-config", &config, "-out", &request,
            ],
        )?;
        openssl(
            dir,
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
                &serial.to_string(),
                "-days",
                VALID_DAYS,
                "-extfile",
                &config,
                "-extensions",
                "svid",
                "-out",
                &certificate,
            ],
        )?;
        remove(&dir.join(&request))?;
        remove(&dir.join(&config))?;
    }
    remove(&dir.join("ca.cnf"))?;
    restrict_keys(dir, workloads)
}

/// Runs `openssl args` in `dir`; the error quotes what openssl printed.
fn openssl(dir: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| {
            format!("cannot run `openssl` ({e}): install OpenSSL (or LibreSSL) to make the mesh's certificates")
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

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn remove(path: &Path) -> Result<(), String> {
    std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

/// Makes the private keys readable by their owner only.
fn restrict_keys(dir: &Path, workloads: &[&str]) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let keys = std::iter::once("ca").chain(workloads.iter().copied());
    for name in keys {
        let path = dir.join(format!("{name}.key"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn workload_certificates_carry_only_their_spiffe_id() {
        let dir =
            std::env::temp_dir().join(format!("wasmesh-mesh-certs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        generate(&dir, &["front", "a"]).unwrap();
        let text = openssl(&dir, &["x509", "-in", "a.crt", "-noout", "-text"]).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(
            text.contains("URI:spiffe://wasmesh.local/ns/demo/sa/a"),
            "{text}"
        );
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        let verified =
            openssl(&dir, &["verify", "-CAfile", "ca.crt", "front.crt", "a.crt"]).unwrap();
        assert!(String::from_utf8(verified).unwrap().contains("a.crt: OK"));
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            [
                "a.crt",
                "a.key",
                "ca.crt",
                "ca.key",
                "front.crt",
                "front.key"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
