//! The mesh's certificates, made at start-up by the e2e harness's [`wasmesh_e2e::pki`]
//! (with the `rcgen` crate, no external command): a CA, and for every workload a key and
//! a certificate whose only identity is the URI SAN
//! `spiffe://wasmesh.local/ns/demo/sa/<name>` (an X.509 SVID), usable as client and as
//! server certificate.
//!
//! Files: `ca.crt`, `ca.key`, `<name>.crt`, `<name>.key`. Keys are ECDSA P-256; the
//! certificates are valid for 30 days.

use crate::topology::spiffe_id;
use std::path::Path;
use wasmesh_e2e::pki::{CertificateAuthority, ExtendedKeyUsage, SubjectAltName};

/// How long the certificates are valid, in days.
const VALID_DAYS: u32 = 30;

/// The organization of every certificate; the CA is `<ORGANIZATION> CA`.
const ORGANIZATION: &str = "wasmesh demo";

/// Writes the CA and one key and certificate per workload into `dir` (which must exist).
pub fn generate(dir: &Path, workloads: &[&str]) -> Result<(), String> {
    let mut ca = CertificateAuthority::create(dir, ORGANIZATION, VALID_DAYS)?;
    for name in workloads {
        ca.issue(
            name,
            &[SubjectAltName::Uri(&spiffe_id(name))],
            &[ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use wasmesh_e2e::pki::{inspect, verify_issued_by};

    #[test]
    fn workload_certificates_carry_only_their_spiffe_id() {
        let dir =
            std::env::temp_dir().join(format!("wasmesh-mesh-certs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        generate(&dir, &["front", "a"]).unwrap();
        let a = inspect(&dir.join("a.crt")).unwrap();
        assert_eq!(
            a.subject_alt_names,
            ["URI:spiffe://wasmesh.local/ns/demo/sa/a"]
        );
        assert_eq!(
            a.extended_key_usages,
            [ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::ClientAuth]
        );
        for workload in ["front.crt", "a.crt"] {
            verify_issued_by(&dir.join(workload), &dir.join("ca.crt")).unwrap();
        }
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
