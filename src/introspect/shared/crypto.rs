//! Key derivation and sealing for the shared cache (docs/reference.md#shared-cache), all
//! with `ring`: HKDF-SHA256 (RFC 5869) turns `key_file` into four independent keys,
//! HMAC-SHA256 (RFC 2104) names Redis keys, AES-256-GCM seals values and purge messages.
//!
//! ```text
//! prk        = HKDF-Extract(salt = "scopegate shared cache", ikm = key_file)
//! k_entry    = HKDF-Expand(prk, "scopegate/v1/entry-key")     (HMAC-SHA256 key)
//! k_value    = HKDF-Expand(prk, "scopegate/v1/value")         (HMAC-SHA256 key)
//! k_subject  = HKDF-Expand(prk, "scopegate/v1/subject-index") (HMAC-SHA256 key)
//! k_message  = HKDF-Expand(prk, "scopegate/v1/purge-message") (AES-256-GCM key)
//!
//! ns         = u64be(len endpoint) ‖ endpoint ‖ u64be(len client_id) ‖ client_id
//! entry key  = prefix ‖ "t:" ‖ hex(HMAC(k_entry, ns ‖ SHA-256(token)))
//! value key  = HMAC(k_value, ns ‖ token)                       (AES-256-GCM key, per token)
//! value      = 0x01 ‖ nonce(12) ‖ AES-256-GCM(value key, aad = "scopegate/v1/entry" ‖ 0 ‖ entry key,
//!                                            u64be(expires at, Unix ms) ‖ claims JSON)
//! subject    = prefix ‖ "s:" ‖ hex(HMAC(k_subject, subject))   (a Redis set of entry keys)
//! message    = 0x01 ‖ nonce(12) ‖ AES-256-GCM(k_message, aad = "scopegate/v1/purge" ‖ 0 ‖ channel,
//!                                            sender(16) ‖ kind(1) ‖ subject | SHA-256(token) | nothing)
//! ```
//!
//! An entry key can be computed from `SHA-256(token)` (so a purge by `token_sha256`
//! finds it) but not without `key_file`; a value opens only with `key_file` *and* the
//! token, and only under the Redis key it was written for (another token's value copied
//! over fails to authenticate). Nonces come from `SystemRandom`.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{self, HKDF_SHA256};
use ring::hmac::{self, HMAC_SHA256};
use ring::rand::{SecureRandom, SystemRandom};

use crate::introspect::Purge;

/// Format version, the first byte of every value and message.
const VERSION: u8 = 1;
const SALT: &[u8] = b"scopegate shared cache";
const ENTRY_AAD: &[u8] = b"scopegate/v1/entry\0";
const MESSAGE_AAD: &[u8] = b"scopegate/v1/purge\0";
const TAG_LEN: usize = 16;
/// Identifies the replica that sent a purge message (it does not apply its own twice).
pub(crate) type SenderId = [u8; 16];

/// The four keys derived from `key_file`.
pub(crate) struct Keys {
    entry: hmac::Key,
    value: hmac::Key,
    subject: hmac::Key,
    message: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(<redacted>)")
    }
}

/// A decoded purge message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    pub sender: SenderId,
    pub purge: Purge,
}

impl Keys {
    /// Derives the keys; fails only if ring refuses the output lengths (it never does
    /// for these algorithms).
    pub(crate) fn derive(key_file: &[u8]) -> Result<Self, ring::error::Unspecified> {
        let prk = hkdf::Salt::new(HKDF_SHA256, SALT).extract(key_file);
        let mac = |label: &'static [u8]| prk.expand(&[label], HMAC_SHA256).map(hmac::Key::from);
        let message = prk.expand(&[b"scopegate/v1/purge-message"], &AES_256_GCM)?;
        Ok(Self {
            entry: mac(b"scopegate/v1/entry-key")?,
            value: mac(b"scopegate/v1/value")?,
            subject: mac(b"scopegate/v1/subject-index")?,
            message: LessSafeKey::new(UnboundKey::from(message)),
            rng: SystemRandom::new(),
        })
    }

    /// `prefix ‖ "t:" ‖ hex(HMAC(k_entry, ns ‖ token_sha256))`.
    pub(crate) fn entry_key(&self, prefix: &str, ns: &[u8], token_sha256: &[u8; 32]) -> String {
        let mut ctx = hmac::Context::with_key(&self.entry);
        ctx.update(ns);
        ctx.update(token_sha256);
        format!("{prefix}t:{}", hex::encode(ctx.sign()))
    }

    /// `prefix ‖ "s:" ‖ hex(HMAC(k_subject, subject))`.
    pub(crate) fn subject_key(&self, prefix: &str, subject: &str) -> String {
        let tag = hmac::sign(&self.subject, subject.as_bytes());
        format!("{prefix}s:{}", hex::encode(tag))
    }

    fn value_key(&self, ns: &[u8], token: &[u8]) -> Option<LessSafeKey> {
        let mut ctx = hmac::Context::with_key(&self.value);
        ctx.update(ns);
        ctx.update(token);
        let tag = ctx.sign();
        UnboundKey::new(&AES_256_GCM, tag.as_ref())
            .ok()
            .map(LessSafeKey::new)
    }

    /// Seals an entry's plaintext for `entry_key`; `None` only if the system RNG fails.
    pub(crate) fn seal_entry(
        &self,
        ns: &[u8],
        token: &[u8],
        entry_key: &str,
        expires_at_ms: u64,
        claims_json: &[u8],
    ) -> Option<Vec<u8>> {
        let key = self.value_key(ns, token)?;
        let mut plaintext = Vec::with_capacity(8 + claims_json.len());
        plaintext.extend_from_slice(&expires_at_ms.to_be_bytes());
        plaintext.extend_from_slice(claims_json);
        seal(
            &key,
            &self.rng,
            &[ENTRY_AAD, entry_key.as_bytes()],
            plaintext,
        )
    }

    /// Opens a value read under `entry_key`: `(expires at in Unix ms, claims JSON)`, or
    /// `None` if it does not authenticate (garbage, another token's value, another key).
    pub(crate) fn open_entry(
        &self,
        ns: &[u8],
        token: &[u8],
        entry_key: &str,
        value: &[u8],
    ) -> Option<(u64, Vec<u8>)> {
        let key = self.value_key(ns, token)?;
        let mut plaintext = open(&key, &[ENTRY_AAD, entry_key.as_bytes()], value)?;
        let (expires, _) = plaintext.split_first_chunk::<8>()?;
        let expires = u64::from_be_bytes(*expires);
        plaintext.drain(..8);
        Some((expires, plaintext))
    }

    /// Seals a purge message for `channel`.
    pub(crate) fn seal_message(&self, channel: &str, message: &Message) -> Option<Vec<u8>> {
        let mut plaintext = Vec::with_capacity(16 + 1 + 32);
        plaintext.extend_from_slice(&message.sender);
        match &message.purge {
            Purge::All => plaintext.push(0),
            Purge::Subject(subject) => {
                plaintext.push(1);
                plaintext.extend_from_slice(subject.as_bytes());
            }
            Purge::TokenSha256(digest) => {
                plaintext.push(2);
                plaintext.extend_from_slice(digest);
            }
        }
        seal(
            &self.message,
            &self.rng,
            &[MESSAGE_AAD, channel.as_bytes()],
            plaintext,
        )
    }

    /// Opens a purge message received on `channel`; `None` if it does not authenticate
    /// or is malformed.
    pub(crate) fn open_message(&self, channel: &str, payload: &[u8]) -> Option<Message> {
        let plaintext = open(&self.message, &[MESSAGE_AAD, channel.as_bytes()], payload)?;
        let (sender, rest) = plaintext.split_first_chunk::<16>()?;
        let (kind, data) = rest.split_first()?;
        let purge = match kind {
            0 if data.is_empty() => Purge::All,
            1 if !data.is_empty() => Purge::Subject(String::from_utf8(data.to_vec()).ok()?),
            2 => Purge::TokenSha256(data.try_into().ok()?),
            _ => return None,
        };
        Some(Message {
            sender: *sender,
            purge,
        })
    }

    /// 16 random bytes naming this process as a purge sender.
    pub(crate) fn sender_id(&self) -> SenderId {
        let mut id = [0u8; 16];
        // A failing RNG leaves zeros: the only effect is that a replica might skip a
        // message of another one with the same (zero) id, and every other message still opens.
        let _ = self.rng.fill(&mut id);
        id
    }
}

/// The namespace of one (endpoint, client id), length-prefixed like the L1 digest.
pub(crate) fn namespace(endpoint: &str, client_id: &str) -> Box<[u8]> {
    let mut ns = Vec::with_capacity(16 + endpoint.len() + client_id.len());
    for part in [endpoint.as_bytes(), client_id.as_bytes()] {
        ns.extend_from_slice(&(part.len() as u64).to_be_bytes());
        ns.extend_from_slice(part);
    }
    ns.into_boxed_slice()
}

fn seal(
    key: &LessSafeKey,
    rng: &SystemRandom,
    aad: &[&[u8]],
    plaintext: Vec<u8>,
) -> Option<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).ok()?;
    let aad: Vec<u8> = aad.concat();
    let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(&plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut out[start..],
        )
        .ok()?;
    out.extend_from_slice(tag.as_ref());
    Some(out)
}

fn open(key: &LessSafeKey, aad: &[&[u8]], data: &[u8]) -> Option<Vec<u8>> {
    let (version, rest) = data.split_first()?;
    if *version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
        return None;
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let aad: Vec<u8> = aad.concat();
    let mut buf = sealed.to_vec();
    let len = key
        .open_in_place(nonce, Aad::from(&aad), &mut buf)
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn keys(material: &[u8]) -> Keys {
        Keys::derive(material).unwrap()
    }

    const NS: &[u8] = b"\0\0\0\0\0\0\0\x01e\0\0\0\0\0\0\0\x01c";

    #[test]
    fn entry_round_trip_and_tampering() {
        let k = keys(&[7u8; 32]);
        let sha: [u8; 32] = Sha256::digest(b"tok-a").into();
        let key = k.entry_key("p:", NS, &sha);
        assert!(key.starts_with("p:t:"));
        assert_eq!(key.len(), 4 + 64);
        assert_eq!(key, k.entry_key("p:", NS, &sha), "deterministic");
        let sealed = k
            .seal_entry(NS, b"tok-a", &key, 1234, br#"{"active":true}"#)
            .unwrap();
        assert!(!sealed.windows(b"active".len()).any(|w| w == b"active"));
        let (exp, json) = k.open_entry(NS, b"tok-a", &key, &sealed).unwrap();
        assert_eq!(exp, 1234);
        assert_eq!(json, br#"{"active":true}"#);

        // Another token, another Redis key, another key file, a flipped bit: refused.
        assert!(k.open_entry(NS, b"tok-b", &key, &sealed).is_none());
        let other_key = k.entry_key("p:", NS, &Sha256::digest(b"tok-b").into());
        assert!(k.open_entry(NS, b"tok-a", &other_key, &sealed).is_none());
        assert!(keys(&[8u8; 32])
            .open_entry(NS, b"tok-a", &key, &sealed)
            .is_none());
        let other_ns = namespace("e2", "c");
        assert!(k.open_entry(&other_ns, b"tok-a", &key, &sealed).is_none());
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(k.open_entry(NS, b"tok-a", &key, &bad).is_none(), "byte {i}");
        }
        assert!(k.open_entry(NS, b"tok-a", &key, b"").is_none());
        assert!(k.open_entry(NS, b"tok-a", &key, &sealed[..20]).is_none());
        // Fresh nonce each time.
        let again = k
            .seal_entry(NS, b"tok-a", &key, 1234, br#"{"active":true}"#)
            .unwrap();
        assert_ne!(sealed, again);
    }

    #[test]
    fn keys_depend_on_key_file_namespace_and_label() {
        let sha = [1u8; 32];
        let a = keys(&[1u8; 32]);
        let b = keys(&[2u8; 32]);
        assert_ne!(a.entry_key("", NS, &sha), b.entry_key("", NS, &sha));
        assert_ne!(
            a.entry_key("", NS, &sha),
            a.entry_key("", &namespace("e", "c2"), &sha)
        );
        assert_ne!(a.subject_key("", "alice"), b.subject_key("", "alice"));
        assert_ne!(a.subject_key("", "alice"), a.subject_key("", "bob"));
        // Distinct labels: the subject key of some text is not an entry key of it.
        assert_ne!(
            a.subject_key("", "x")[2..],
            a.entry_key("", b"", &[0u8; 32])[2..]
        );
        assert_ne!(&namespace("ab", "c")[..], &namespace("a", "bc")[..]);
    }

    #[test]
    fn messages_round_trip_and_refuse_forgeries() {
        let k = keys(&[9u8; 40]);
        let sender = k.sender_id();
        for purge in [
            Purge::All,
            Purge::Subject("alice".into()),
            Purge::TokenSha256([3u8; 32]),
        ] {
            let message = Message {
                sender,
                purge: purge.clone(),
            };
            let sealed = k.seal_message("p:purge", &message).unwrap();
            assert_eq!(k.open_message("p:purge", &sealed), Some(message));
            assert!(k.open_message("q:purge", &sealed).is_none());
            assert!(keys(&[9u8; 41]).open_message("p:purge", &sealed).is_none());
            let mut bad = sealed.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x80;
            assert!(k.open_message("p:purge", &bad).is_none());
        }
        assert!(k
            .open_message("p:purge", b"\x01garbage-garbage-garbage-garbage")
            .is_none());
    }
}
