//! The login certificate from Buypass's `bp_x509certificate` claim and the CA bundle: arbitrary
//! bytes, truncated and mutated real certificates (as PEM and as bare base64). Nothing panics;
//! nothing from a foreign CA is accepted; an edited certificate is accepted only if the signed
//! part is untouched, so the serial and subject we take are always the ones the CA signed.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use portal_core::buypass::certificate::{AcceptedCertificate, TrustedIssuers};
use portal_dev::ca::DevCa;
use proptest::prelude::*;

use super::{config, mutate, mutations, replay, seed};

struct Pki {
    trusted: TrustedIssuers,
    now: i64,
    /// A certificate our CA issued: PEM, DER, and what `verify` takes from it.
    pem: String,
    der: Vec<u8>,
    accepted: AcceptedCertificate,
    /// The same holder's certificate from an impostor CA with the same name.
    foreign_pem: String,
}

fn der_of(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap_or_else(|e| panic!("{e}"))
}

fn pem_of(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

impl Pki {
    fn new() -> Self {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ca = DevCa::generate("Buypass Class 3 Test4 CA 3").unwrap_or_else(|e| panic!("{e}"));
        let impostor = DevCa::generate("Buypass Class 3 Test4 CA 3").unwrap_or_else(|e| panic!("{e}"));
        let trusted = TrustedIssuers::from_pem_bundle(&ca.certificate_pem()).unwrap_or_else(|e| panic!("{e}"));
        let leaf = ca
            .issue("kari", now - 3600, now + 3600)
            .unwrap_or_else(|e| panic!("{e}"));
        let accepted = trusted.verify(&leaf.pem, now).unwrap_or_else(|e| panic!("{e}"));
        let foreign = impostor
            .issue("kari", now - 3600, now + 3600)
            .unwrap_or_else(|e| panic!("{e}"));
        Self {
            trusted,
            now,
            der: der_of(&leaf.pem),
            pem: leaf.pem,
            accepted,
            foreign_pem: foreign.pem,
        }
    }

    /// Whatever `claim` is: no panic, and if accepted, exactly the real certificate's facts.
    fn check(&self, claim: &str) {
        if let Ok(accepted) = self.trusted.verify(claim, self.now) {
            assert_eq!(
                accepted, self.accepted,
                "an edited certificate changed what we take from it"
            );
        }
    }

    fn check_der(&self, der: &[u8]) {
        self.check(&pem_of(der));
        self.check(&STANDARD.encode(der));
    }
}

thread_local! {
    static PKI: Pki = Pki::new();
}

fn check_bundle(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    if let Ok(bundle) = TrustedIssuers::from_pem_bundle(&text) {
        assert!(!bundle.is_empty());
    }
}

proptest! {
    #![proptest_config(config("certificate", 500))]

    #[test]
    fn arbitrary_claims_are_refused(raw in prop_oneof![
        any::<String>(),
        "-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]{0,300}\n-----END CERTIFICATE-----",
        "[A-Za-z0-9+/]{0,400}={0,2}",
    ]) {
        PKI.with(|p| assert!(p.trusted.verify(&raw, p.now).is_err(), "accepted {raw:?}"));
    }

    #[test]
    fn arbitrary_der_is_refused(der in prop::collection::vec(any::<u8>(), 0..600)) {
        PKI.with(|p| {
            prop_assert!(p.trusted.verify(&pem_of(&der), p.now).is_err());
            prop_assert!(p.trusted.verify(&STANDARD.encode(&der), p.now).is_err());
            Ok(())
        })?;
    }

    /// Byte edits anywhere in the real certificate's DER.
    #[test]
    fn mutated_real_certificates_never_change_the_serial(edits in mutations()) {
        PKI.with(|p| p.check_der(&mutate(&p.der, &edits)));
    }

    /// Every prefix of the real certificate is refused.
    #[test]
    fn truncated_real_certificates_are_refused(cut in any::<usize>()) {
        PKI.with(|p| {
            let cut = cut % p.der.len();
            prop_assert!(p.trusted.verify(&STANDARD.encode(&p.der[..cut]), p.now).is_err());
            prop_assert!(p.trusted.verify(&pem_of(&p.der[..cut]), p.now).is_err());
            Ok(())
        })?;
    }

    /// Edits of the PEM text (armour, line breaks, base64 alphabet).
    #[test]
    fn mutated_pem_text_never_changes_the_serial(edits in mutations()) {
        PKI.with(|p| p.check(&String::from_utf8_lossy(&mutate(p.pem.as_bytes(), &edits))));
    }

    /// The impostor's certificate stays refused whatever is done to it.
    #[test]
    fn foreign_certificates_stay_refused(edits in prop::collection::vec(crate::fuzz::mutation(), 0..3)) {
        PKI.with(|p| {
            let der = mutate(&der_of(&p.foreign_pem), &edits);
            prop_assert!(p.trusted.verify(&pem_of(&der), p.now).is_err());
            Ok(())
        })?;
    }

    #[test]
    fn mutated_seed_claims_and_bundles_never_panic(seed in seed("certificate"), edits in mutations()) {
        let bytes = mutate(&seed, &edits);
        PKI.with(|p| p.check(&String::from_utf8_lossy(&bytes)));
        check_bundle(&bytes);
    }

    #[test]
    fn arbitrary_bundles_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_bundle(&bytes);
    }
}

#[test]
fn the_real_certificate_is_accepted_in_both_spellings() {
    PKI.with(|p| {
        assert_eq!(p.trusted.verify(&p.pem, p.now), Ok(p.accepted.clone()));
        assert_eq!(
            p.trusted.verify(&STANDARD.encode(&p.der), p.now),
            Ok(p.accepted.clone())
        );
        assert!(p.trusted.verify(&p.foreign_pem, p.now).is_err());
        assert!(p.trusted.verify(&p.pem, p.now + 7200).is_err(), "expired");
    });
}

#[test]
fn corpus_replays() {
    PKI.with(|p| {
        replay("certificate", |bytes| {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                p.trusted.verify(&text, p.now).is_err(),
                "a seed from another CA was accepted"
            );
            check_bundle(bytes);
        })
    });
}

/// A Buypass-like RSA chain made with openssl (seeds `rsa-ca.pem`, `rsa-leaf.pem`): the RSA
/// signature path, and edits of an RSA certificate.
struct RsaChain {
    trusted: TrustedIssuers,
    der: Vec<u8>,
    accepted: AcceptedCertificate,
}

/// A day after the openssl chain was made; both certificates are valid then.
const RSA_NOW: i64 = 1_795_915_039 + 86_400;

impl RsaChain {
    fn new() -> Self {
        let seeds = crate::fuzz::corpus("certificate");
        let find = |name: &str| {
            let bytes = seeds
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, b)| b.clone())
                .unwrap_or_else(|| panic!("no seed {name}"));
            String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"))
        };
        let trusted = TrustedIssuers::from_pem_bundle(&find("rsa-ca.pem")).unwrap_or_else(|e| panic!("{e}"));
        let leaf = find("rsa-leaf.pem");
        let accepted = trusted.verify(&leaf, RSA_NOW).unwrap_or_else(|e| panic!("{e}"));
        Self {
            trusted,
            der: der_of(&leaf),
            accepted,
        }
    }
}

thread_local! {
    static RSA: RsaChain = RsaChain::new();
}

#[test]
fn the_rsa_chain_verifies_and_gives_its_serial() {
    RSA.with(|r| {
        assert_eq!(r.accepted.serial.as_str(), "3B9DA260CE3585ECD14B");
        assert!(r.accepted.subject.contains("Kari Nordmann"), "{}", r.accepted.subject);
        assert!(
            r.trusted
                .verify(&STANDARD.encode(&r.der), RSA_NOW + 400 * 86_400)
                .is_err(),
            "expired"
        );
    });
}

proptest! {
    #![proptest_config(config("certificate_rsa", 300))]

    #[test]
    fn mutated_rsa_certificates_never_change_the_serial(edits in mutations()) {
        RSA.with(|r| {
            let der = mutate(&r.der, &edits);
            for claim in [pem_of(&der), STANDARD.encode(&der)] {
                if let Ok(accepted) = r.trusted.verify(&claim, RSA_NOW) {
                    prop_assert_eq!(&accepted, &r.accepted, "an edited certificate changed what we take from it");
                }
            }
            Ok(())
        })?;
    }
}
