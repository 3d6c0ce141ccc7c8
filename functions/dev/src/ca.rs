//! A local stand-in for Buypass's issuing CA (rcgen): the stand-in provider issues login
//! certificates from it, and tests use it to make trusted, foreign and expired certificates.
//! Never used by a Lambda.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use sha2::{Digest, Sha256};

use portal_core::clock::UnixTime;
use portal_core::domain::CertificateSerial;
use portal_core::security::keys::write_private;

#[derive(Debug, thiserror::Error)]
#[error("test CA: {0}")]
pub struct CaError(String);

fn err(e: impl std::fmt::Display) -> CaError {
    CaError(e.to_string())
}

/// A CA: its name, key and self-signed certificate.
pub struct DevCa {
    name: String,
    key: KeyPair,
    certificate_pem: String,
}

/// A certificate issued by a [`DevCa`].
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub pem: String,
    pub serial: CertificateSerial,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SavedCa {
    name: String,
    key_pem: String,
    certificate_pem: String,
}

fn to_time(at: UnixTime) -> Result<time::OffsetDateTime, CaError> {
    time::OffsetDateTime::from_unix_timestamp(at).map_err(err)
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CountryName, "NO");
    dn.push(DnType::OrganizationName, "Buypass AS (lokal test)");
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// The serial the stand-in gives a test user's card: the same every time for the same name.
pub fn stable_serial(holder: &str) -> Vec<u8> {
    let digest = Sha256::digest(format!("hjemmekontor-dev-card:{holder}").as_bytes());
    let mut serial = digest[..10].to_vec();
    // Positive, and no leading zero byte, so the DER encoding is exactly these bytes.
    serial[0] = (serial[0] & 0x7f) | 0x10;
    serial
}

impl DevCa {
    pub fn generate(name: &str) -> Result<Self, CaError> {
        let key = KeyPair::generate().map_err(err)?;
        let mut params = ca_params(name);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        params.not_before = to_time(now - 5 * 365 * 24 * 3600)?;
        params.not_after = to_time(now + 20 * 365 * 24 * 3600)?;
        let certificate = params.self_signed(&key).map_err(err)?;
        Ok(Self {
            name: name.to_owned(),
            key,
            certificate_pem: certificate.pem(),
        })
    }

    /// The CA kept in `dir/dev-buypass-ca.json` (owner-only), created on first use.
    pub fn load_or_create(dir: &Path) -> Result<Self, CaError> {
        let path = dir.join("dev-buypass-ca.json");
        if !path.exists() {
            let ca = Self::generate("Buypass Class 3 Test4 CA (lokal)")?;
            let saved = SavedCa {
                name: ca.name.clone(),
                key_pem: ca.key.serialize_pem(),
                certificate_pem: ca.certificate_pem.clone(),
            };
            let text = serde_json::to_string_pretty(&saved).map_err(err)?;
            write_private(&path, text.as_bytes()).map_err(err)?;
        }
        let saved: SavedCa = serde_json::from_str(&std::fs::read_to_string(&path).map_err(err)?).map_err(err)?;
        Ok(Self {
            key: KeyPair::from_pem(&saved.key_pem).map_err(err)?,
            name: saved.name,
            certificate_pem: saved.certificate_pem,
        })
    }

    pub fn certificate_pem(&self) -> String {
        self.certificate_pem.clone()
    }

    /// A login certificate for `holder` with the holder's stable serial.
    pub fn issue(&self, holder: &str, not_before: UnixTime, not_after: UnixTime) -> Result<IssuedCertificate, CaError> {
        self.issue_with_serial(holder, &stable_serial(holder), not_before, not_after)
    }

    pub fn issue_with_serial(
        &self,
        holder: &str,
        serial: &[u8],
        not_before: UnixTime,
        not_after: UnixTime,
    ) -> Result<IssuedCertificate, CaError> {
        let issuer = Issuer::new(ca_params(&self.name), &self.key);
        let leaf_key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "NO");
        dn.push(DnType::CommonName, holder);
        params.distinguished_name = dn;
        params.serial_number = Some(SerialNumber::from_slice(serial));
        params.not_before = to_time(not_before)?;
        params.not_after = to_time(not_after)?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let certificate = params.signed_by(&leaf_key, &issuer).map_err(err)?;
        Ok(IssuedCertificate {
            pem: certificate.pem(),
            serial: CertificateSerial::from_bytes(serial).map_err(err)?,
        })
    }
}
