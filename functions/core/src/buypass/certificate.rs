//! The login certificate Buypass puts in `bp_x509certificate`: parsed with x509-parser,
//! accepted only when one of the configured Buypass issuing CAs signed it (signature checked
//! against the CA's public key, not just the issuer name) and it is valid now.

use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::time::ASN1Time;

use crate::clock::UnixTime;
use crate::domain::{CertificateSerial, IssuerId};

/// Largest certificate claim we look at.
const MAX_PEM_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("the CA bundle holds no certificate")]
    Empty,
    #[error("CA certificate {0} in the bundle cannot be parsed: {1}")]
    Unparseable(usize, String),
    #[error("certificate {0} in the bundle is not a CA certificate")]
    NotCa(usize),
}

/// Why a login certificate was refused. Never shown in detail to the user; logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateRejection {
    #[error("no certificate in the ID token")]
    Missing,
    #[error("certificate cannot be parsed")]
    Unparseable,
    #[error("certificate not issued by a trusted Buypass CA")]
    UntrustedIssuer,
    #[error("certificate not valid at this time")]
    NotValidNow,
    #[error("certificate serial unusable")]
    BadSerial,
}

/// What we take from an accepted certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedCertificate {
    pub serial: CertificateSerial,
    /// The namespace of `serial`: hash of the certificate's issuer Name (see [`IssuerId`]).
    pub issuer_id: IssuerId,
    pub subject: String,
    pub issuer: String,
    pub not_after: UnixTime,
}

/// The Buypass issuing CAs we accept (DER, parsed on use).
#[derive(Clone)]
pub struct TrustedIssuers {
    cas: Vec<Vec<u8>>,
}

impl std::fmt::Debug for TrustedIssuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedIssuers({} CA certificates)", self.cas.len())
    }
}

impl TrustedIssuers {
    /// Every certificate in a PEM bundle; each must parse and be a CA certificate.
    pub fn from_pem_bundle(pem: &str) -> Result<Self, TrustError> {
        let mut cas = Vec::new();
        for (index, block) in Pem::iter_from_buffer(pem.as_bytes()).enumerate() {
            let block = block.map_err(|e| TrustError::Unparseable(index, e.to_string()))?;
            let cert = block
                .parse_x509()
                .map_err(|e| TrustError::Unparseable(index, e.to_string()))?;
            if !cert.is_ca() {
                return Err(TrustError::NotCa(index));
            }
            cas.push(block.contents.clone());
        }
        if cas.is_empty() {
            return Err(TrustError::Empty);
        }
        Ok(Self { cas })
    }

    pub fn len(&self) -> usize {
        self.cas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cas.is_empty()
    }

    /// Checks `claim` (PEM, or bare base64 DER) against the trusted CAs at time `now`.
    pub fn verify(&self, claim: &str, now: UnixTime) -> Result<AcceptedCertificate, CertificateRejection> {
        if claim.len() > MAX_PEM_BYTES {
            return Err(CertificateRejection::Unparseable);
        }
        let der = certificate_der(claim).ok_or(CertificateRejection::Unparseable)?;
        let (rest, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| CertificateRejection::Unparseable)?;
        if !rest.is_empty() {
            return Err(CertificateRejection::Unparseable);
        }
        let at = ASN1Time::from_timestamp(now).map_err(|_| CertificateRejection::NotValidNow)?;
        let issuer = self.issuer_of(&cert, at)?;
        if !cert.validity().is_valid_at(at) {
            return Err(CertificateRejection::NotValidNow);
        }
        let serial = CertificateSerial::from_bytes(cert.raw_serial()).map_err(|_| CertificateRejection::BadSerial)?;
        Ok(AcceptedCertificate {
            serial,
            issuer_id: IssuerId::from_issuer_der(cert.issuer().as_raw()),
            subject: cert.subject().to_string(),
            issuer,
            not_after: cert.validity().not_after.timestamp(),
        })
    }

    /// The subject of the trusted CA whose key verifies `cert`'s signature and which is itself
    /// valid at `at`.
    fn issuer_of(&self, cert: &X509Certificate<'_>, at: ASN1Time) -> Result<String, CertificateRejection> {
        for der in &self.cas {
            let Ok((_, ca)) = x509_parser::parse_x509_certificate(der) else {
                continue;
            };
            if ca.subject().as_raw() != cert.issuer().as_raw() {
                continue;
            }
            if cert.verify_signature(Some(ca.public_key())).is_ok() {
                if !ca.validity().is_valid_at(at) {
                    return Err(CertificateRejection::NotValidNow);
                }
                return Ok(ca.subject().to_string());
            }
        }
        Err(CertificateRejection::UntrustedIssuer)
    }
}

/// DER bytes of a PEM certificate, or of bare base64 (some providers leave out the armour).
fn certificate_der(claim: &str) -> Option<Vec<u8>> {
    let trimmed = claim.trim();
    if trimmed.starts_with("-----BEGIN") {
        let (_, pem) = x509_parser::pem::parse_x509_pem(trimmed.as_bytes()).ok()?;
        return (pem.label == "CERTIFICATE").then_some(pem.contents);
    }
    use base64::Engine;
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact).ok()
}
