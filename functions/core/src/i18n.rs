//! The languages the portal speaks (bokmål by default, nynorsk, English), how a request picks
//! one (`Accept-Language`), and the API's text catalogues (`i18n/<lang>.ftl`, one
//! `key = text` per line, keyed by the stable problem `code`).
//!
//! The catalogues are compiled into the binary and parsed once, on first use, into one table
//! per language; a request only looks a key up.

use std::collections::HashMap;
use std::sync::LazyLock;

use http::HeaderValue;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Norsk bokmål: the default, and what every account had before languages existed.
    #[default]
    Nb,
    /// Norsk nynorsk.
    Nn,
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Nb, Lang::Nn, Lang::En];

    /// The BCP 47 tag (`Content-Language`, the account record, the API).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::Nn => "nn",
            Lang::En => "en",
        }
    }

    /// Exactly `nb`, `nn` or `en` (what the API and `portal-admin` accept).
    pub fn parse(tag: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// The language a BCP 47 language range stands for, if we speak it: `nb`, `no`, `nb-*`
    /// and `no-*` are bokmål except `no-NN`/`no-nyn`, which like `nn*` are nynorsk; `en*` is
    /// English.
    fn of_range(range: &str) -> Option<Lang> {
        let range = range.to_ascii_lowercase();
        let mut subtags = range.split('-');
        match subtags.next()? {
            "nn" => Some(Lang::Nn),
            "no" | "nb" => {
                if subtags.any(|s| s == "nn" || s == "nyn") {
                    Some(Lang::Nn)
                } else {
                    Some(Lang::Nb)
                }
            }
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The client's preferred language among ours (RFC 9110 §12.5.4): the highest q-value
    /// wins, the earlier range on a tie; `q=0` means "not this one". Bokmål when nothing
    /// matches.
    pub fn from_accept_language(value: Option<&HeaderValue>) -> Lang {
        let Some(value) = value else {
            return Lang::Nb;
        };
        // Lossy: a range with bytes outside ASCII matches nothing, and the others still count.
        let raw = String::from_utf8_lossy(value.as_bytes());
        let mut best: Option<(f32, Lang)> = None;
        for part in raw.split(',').take(32) {
            let mut pieces = part.trim().split(';');
            let range = pieces.next().unwrap_or("").trim();
            let q = pieces
                .find_map(|p| {
                    let p = p.trim();
                    p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
                })
                .map_or(Some(1.0), |q| {
                    q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q))
                });
            let (Some(q), Some(lang)) = (q, Lang::of_range(range)) else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Nb, |(_, l)| l)
    }
}

const SOURCES: [(Lang, &str); 3] = [
    (Lang::Nb, include_str!("../i18n/nb.ftl")),
    (Lang::Nn, include_str!("../i18n/nn.ftl")),
    (Lang::En, include_str!("../i18n/en.ftl")),
];

/// `key = text` lines; blank lines and `#` comments are skipped. Lines without ` = ` are
/// ignored here and reported by the catalogue test.
fn parse(source: &'static str) -> HashMap<&'static str, &'static str> {
    source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

static CATALOGUES: LazyLock<[HashMap<&'static str, &'static str>; 3]> =
    LazyLock::new(|| SOURCES.map(|(_, source)| parse(source)));

fn catalogue(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    &CATALOGUES[match lang {
        Lang::Nb => 0,
        Lang::Nn => 1,
        Lang::En => 2,
    }]
}

/// The text of `key` in `lang`. A key missing from a catalogue (the catalogue test prevents
/// that) falls back to bokmål, then to the key itself, never to an empty title.
pub fn text(lang: Lang, key: &'static str) -> &'static str {
    catalogue(lang)
        .get(key)
        .or_else(|| catalogue(Lang::Nb).get(key))
        .copied()
        .unwrap_or(key)
}

/// Whether every catalogue has `key` (tests of the codes the API can answer with).
pub fn has_key(key: &str) -> bool {
    Lang::ALL.iter().all(|l| catalogue(*l).contains_key(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn pick(value: &str) -> Lang {
        Lang::from_accept_language(Some(&HeaderValue::from_str(value).unwrap()))
    }

    #[test]
    fn accept_language_picks_by_q_value_with_bokmal_as_default() {
        assert_eq!(Lang::from_accept_language(None), Lang::Nb);
        assert_eq!(pick("en"), Lang::En);
        assert_eq!(pick("en-GB,en;q=0.9"), Lang::En);
        assert_eq!(pick("nb-NO,nb;q=0.9,en;q=0.8"), Lang::Nb);
        assert_eq!(pick("nn"), Lang::Nn);
        assert_eq!(pick("nn-NO,nb;q=0.8"), Lang::Nn);
        assert_eq!(pick("no-NN"), Lang::Nn);
        assert_eq!(pick("no"), Lang::Nb);
        assert_eq!(pick("no-NO"), Lang::Nb);
        assert_eq!(pick("de, en;q=0.5"), Lang::En);
        assert_eq!(pick("fr"), Lang::Nb);
        // A range with bytes outside ASCII is skipped, not the whole header.
        let mixed = HeaderValue::from_bytes("dé, nn;q=0.9".as_bytes()).unwrap();
        assert_eq!(Lang::from_accept_language(Some(&mixed)), Lang::Nn);
        // q-values decide, not the order.
        assert_eq!(pick("en;q=0.4, nn;q=0.7"), Lang::Nn);
        assert_eq!(pick("nb;q=0.2, EN-us;q=0.9"), Lang::En);
        // On a tie the earlier one wins.
        assert_eq!(pick("nn, en"), Lang::Nn);
        // q=0 is a refusal; malformed q-values are skipped.
        assert_eq!(pick("en;q=0, nn;q=0.1"), Lang::Nn);
        assert_eq!(pick("en;q=0"), Lang::Nb);
        assert_eq!(pick("en;q=abc, nn;q=0.5"), Lang::Nn);
        assert_eq!(pick("en;q=7"), Lang::Nb);
        assert_eq!(pick(""), Lang::Nb);
        assert_eq!(pick("*"), Lang::Nb);
    }

    #[test]
    fn every_catalogue_line_is_a_key_and_a_text_and_every_key_is_in_every_language() {
        let mut keys: Vec<BTreeSet<&str>> = Vec::new();
        for (lang, source) in SOURCES {
            let mut seen = BTreeSet::new();
            for line in source.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let (key, text) = line
                    .split_once(" = ")
                    .unwrap_or_else(|| panic!("{}.ftl: not `key = text`: {line}", lang.tag()));
                assert!(
                    key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-'),
                    "{}.ftl: key {key:?}",
                    lang.tag()
                );
                assert!(!text.trim().is_empty(), "{}.ftl: {key} has no text", lang.tag());
                assert!(seen.insert(key), "{}.ftl: {key} twice", lang.tag());
            }
            keys.push(seen);
        }
        for (i, lang) in Lang::ALL.iter().enumerate() {
            assert_eq!(keys[i], keys[0], "{}.ftl has other keys than nb.ftl", lang.tag());
        }
    }

    #[test]
    fn nynorsk_and_english_are_translations_not_copies() {
        // A few titles must differ, or a catalogue was copied without translating.
        for key in ["invalid_credentials", "home_office_not_enabled", "session_expired"] {
            assert_ne!(text(Lang::Nb, key), text(Lang::Nn, key), "{key}");
            assert_ne!(text(Lang::Nb, key), text(Lang::En, key), "{key}");
        }
    }

    #[test]
    fn a_missing_key_falls_back_to_bokmal_then_to_the_key() {
        assert_eq!(text(Lang::En, "no_such_code"), "no_such_code");
        assert!(!has_key("no_such_code"));
        assert!(has_key("invalid_credentials"));
    }

    #[test]
    fn language_tags_round_trip_and_serialize_as_tags() {
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.tag()), Some(lang));
            assert_eq!(serde_json::to_value(lang).unwrap(), serde_json::json!(lang.tag()));
        }
        assert_eq!(Lang::parse("no"), None);
        assert_eq!(Lang::parse("NB"), None);
    }
}
