//! The Buypass login certificate checks against certificates from the test CA.

use portal_core::buypass::certificate::*;
use portal_core::clock::UnixTime;
use portal_dev::ca::DevCa;

const NOW: UnixTime = 1_767_225_600;

#[test]
fn accepts_a_certificate_from_a_trusted_ca_and_takes_its_serial() {
    let ca = DevCa::generate("Buypass Test CA").unwrap();
    let trusted = TrustedIssuers::from_pem_bundle(&ca.certificate_pem()).unwrap();
    let leaf = ca.issue("kari", NOW - 60, NOW + 3600).unwrap();
    let accepted = trusted.verify(&leaf.pem, NOW).unwrap();
    assert_eq!(accepted.serial, leaf.serial);
    assert!(accepted.subject.contains("kari"), "{}", accepted.subject);
    // Bare base64 without armour is the same certificate.
    let bare: String = leaf.pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(trusted.verify(&bare, NOW).unwrap().serial, leaf.serial);
}

#[test]
fn refuses_foreign_ca_even_with_the_same_name() {
    let ours = DevCa::generate("Buypass Test CA").unwrap();
    let impostor = DevCa::generate("Buypass Test CA").unwrap();
    let trusted = TrustedIssuers::from_pem_bundle(&ours.certificate_pem()).unwrap();
    let leaf = impostor.issue("kari", NOW - 60, NOW + 3600).unwrap();
    assert_eq!(
        trusted.verify(&leaf.pem, NOW),
        Err(CertificateRejection::UntrustedIssuer)
    );
    let other_name = DevCa::generate("Some Other CA").unwrap();
    let leaf = other_name.issue("kari", NOW - 60, NOW + 3600).unwrap();
    assert_eq!(
        trusted.verify(&leaf.pem, NOW),
        Err(CertificateRejection::UntrustedIssuer)
    );
}

#[test]
fn refuses_expired_and_not_yet_valid_certificates_and_garbage() {
    let ca = DevCa::generate("Buypass Test CA").unwrap();
    let trusted = TrustedIssuers::from_pem_bundle(&ca.certificate_pem()).unwrap();
    let expired = ca.issue("kari", NOW - 7200, NOW - 3600).unwrap();
    assert_eq!(
        trusted.verify(&expired.pem, NOW),
        Err(CertificateRejection::NotValidNow)
    );
    let future = ca.issue("kari", NOW + 3600, NOW + 7200).unwrap();
    assert_eq!(trusted.verify(&future.pem, NOW), Err(CertificateRejection::NotValidNow));
    for garbage in [
        "",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        "not base64 !!",
    ] {
        assert_eq!(trusted.verify(garbage, NOW), Err(CertificateRejection::Unparseable));
    }
    assert!(trusted.verify(&"A".repeat(20_000), NOW).is_err());
}

#[test]
fn bundle_must_hold_ca_certificates() {
    assert!(matches!(TrustedIssuers::from_pem_bundle(""), Err(TrustError::Empty)));
    let ca = DevCa::generate("Buypass Test CA").unwrap();
    let leaf = ca.issue("kari", NOW - 60, NOW + 3600).unwrap();
    assert!(matches!(
        TrustedIssuers::from_pem_bundle(&leaf.pem),
        Err(TrustError::NotCa(0))
    ));
    let two = format!(
        "{}\n{}",
        ca.certificate_pem(),
        DevCa::generate("B").unwrap().certificate_pem()
    );
    assert_eq!(TrustedIssuers::from_pem_bundle(&two).unwrap().len(), 2);
}
