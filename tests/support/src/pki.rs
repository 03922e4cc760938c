//! Certificates, keys and the admin token of a control plane, written to its working directory.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::Error;

/// The user name of the admin identity, a member of `system:masters`.
pub(crate) const ADMIN_USER: &str = "hotloop-testenv-admin";

/// Paths of the files written by [`write`], and the admin token.
#[derive(Debug)]
pub(crate) struct Pki {
    /// The CA that signed the API server's serving certificate; clients trust it.
    pub(crate) ca_cert: PathBuf,
    /// The API server's serving certificate, for 127.0.0.1 and localhost.
    pub(crate) serving_cert: PathBuf,
    /// The key of the serving certificate.
    pub(crate) serving_key: PathBuf,
    /// The key that signs service-account tokens.
    pub(crate) service_account_key: PathBuf,
    /// Its public half, which verifies them.
    pub(crate) service_account_public_key: PathBuf,
    /// The API server's static token file, holding the admin token.
    pub(crate) token_file: PathBuf,
    /// A bearer token for [`ADMIN_USER`].
    pub(crate) admin_token: String,
}

/// Generates a CA, a serving certificate, a service-account key pair and an admin token, and
/// writes them into `dir` (which must exist).
pub(crate) fn write(dir: &Path) -> Result<Pki, Error> {
    let ca = certificate_authority()?;
    let serving_key = KeyPair::generate()?;
    let mut serving =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    serving.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    serving.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let serving_cert = serving.signed_by(&serving_key, &ca)?;
    let service_account = KeyPair::generate()?;
    let admin_token =
        random_hex(16).map_err(|source| write_error(Path::new("/dev/urandom"), source))?;

    let pki = Pki {
        ca_cert: dir.join("ca.crt"),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_public_key: dir.join("service-account.pub"),
        token_file: dir.join("tokens.csv"),
        admin_token,
    };
    let token_line = format!("{},{ADMIN_USER},{ADMIN_USER},\"system:masters\"\n", pki.admin_token);
    write_file(&pki.ca_cert, &ca.pem())?;
    write_file(&pki.serving_cert, &serving_cert.pem())?;
    write_file(&pki.serving_key, &serving_key.serialize_pem())?;
    write_file(&pki.service_account_key, &service_account.serialize_pem())?;
    write_file(&pki.service_account_public_key, &service_account.public_key_pem())?;
    write_file(&pki.token_file, &token_line)?;
    Ok(pki)
}

fn certificate_authority() -> Result<CertifiedIssuer<'static, KeyPair>, Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, "hotloop-testenv-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut buffer = vec![0; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// A short random suffix for names (namespaces, probe objects).
pub(crate) fn random_suffix() -> String {
    random_hex(3).unwrap_or_else(|_| format!("{:06x}", std::process::id() & 0xff_ffff))
}

fn write_file(path: &Path, contents: &str) -> Result<(), Error> {
    fs::write(path, contents).map_err(|source| write_error(path, source))
}

fn write_error(path: &Path, source: std::io::Error) -> Error {
    Error::Write { path: path.to_path_buf(), source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_written_and_the_token_is_in_the_token_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = write(dir.path()).expect("pki");
        for path in [&pki.ca_cert, &pki.serving_cert, &pki.serving_key, &pki.service_account_key] {
            assert!(
                fs::metadata(path).expect("written").len() > 100,
                "{} is too short",
                path.display()
            );
        }
        let tokens = fs::read_to_string(&pki.token_file).expect("token file");
        assert!(tokens.starts_with(&format!("{},", pki.admin_token)));
        assert_eq!(pki.admin_token.len(), 32);
    }
}
