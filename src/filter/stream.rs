//! One-pass filter: walk the JSON with serde_json along the rule tree only, dropping
//! denied fields on the way, without building a `serde_json::Value`.
//!
//! Where the walk goes (objects and arrays that some denied rule reaches into), the
//! structure is written back compactly: `{`, keys, `:`, `,`. Every value below which
//! nothing is denied is copied as the upstream wrote it, as serde_json's `RawValue`:
//! validated (grammar, escapes; UTF-8 once for the whole body) but neither decoded nor
//! re-encoded. So numbers keep every digit (an integer beyond 64 bits, `1.50`), strings
//! keep their escapes, and the cost is a scan rather than a parse and a re-serialization.
//! That copy is serde_json's iterative skipper, so nesting depth below the rules is no
//! limit and cannot exhaust the stack.
//!
//! Duplicate keys are kept, not collapsed to the last one. Every copy of a duplicate goes
//! through the same rule, so a protected field cannot survive through a duplicate either
//! way. Removed values are read through and validated like kept ones: the document is
//! checked as strictly whichever fields the token may see.
//!
//! One difference in strictness remains, and it fails closed: a number beyond `f64`
//! (`1e400`) standing where a rule path expects an object or array is read as a number
//! there, which serde_json refuses; anywhere else it is copied as written.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::tree::{live, Denied, Node};

/// Filters `body` into `out`; on error `out` holds a partial document and must be dropped.
pub(super) fn transcode(
    root: &Node,
    denied: &Denied,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    // JSON is UTF-8 (RFC 8259 §8.1). One check of the whole body here spares serde_json
    // one per string and per copied value, which costs more than the rest of the walk on
    // short strings. Outside strings any byte above 0x7F is a syntax error anyway, so
    // this accepts exactly what `from_slice` accepts.
    let text = std::str::from_utf8(body)
        .map_err(|e| de::Error::custom(format_args!("response body is not UTF-8 ({e})")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    Emit {
        out,
        node: live(Some(root), denied),
        denied,
    }
    .deserialize(&mut de)?;
    // Trailing bytes after the document are invalid JSON too.
    de.end()
}

/// Writes one value; `node` is `None` where nothing below is denied.
struct Emit<'o, 'n> {
    out: &'o mut Vec<u8>,
    node: Option<&'n Node>,
    denied: &'o Denied,
}

/// Object keys, borrowed from the input unless they contain escapes. Matching is on the
/// decoded key, so `"cont\u0061ct"` is `contact`.
struct Key;

// === impl Emit ===

impl<'de> DeserializeSeed<'de> for Emit<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match self.node {
            // Nothing below is denied: the value's own bytes, validated by serde_json
            // (structure, escapes; UTF-8 was checked for the whole body) but neither
            // decoded nor re-encoded.
            None => {
                let raw = <&'de RawValue>::deserialize(de)?;
                self.out.extend_from_slice(raw.get().as_bytes());
                Ok(())
            }
            Some(_) => de.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Emit<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        write(self.out, &v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        write(self.out, &v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        write(self.out, &v)
    }

    // `visit_borrowed_str` and `visit_string` forward here by default.
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write(self.out, v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Emit { out, node, denied } = self;
        let each = live(node.and_then(|n| n.each.as_deref()), denied);
        out.push(b'[');
        let mut first = true;
        loop {
            // The separator goes out before we know whether an element follows.
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            let seed = Emit {
                out: &mut *out,
                node: each,
                denied,
            };
            if seq.next_element_seed(seed)?.is_none() {
                out.truncate(mark);
                break;
            }
            first = false;
        }
        out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Emit { out, node, denied } = self;
        out.push(b'{');
        let mut first = true;
        while let Some(key) = map.next_key_seed(Key)? {
            let field = node.and_then(|n| n.field(&key));
            if field.is_some_and(|f| f.is_removed(denied)) {
                // Still read through: the document is validated whatever the token sees.
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            write_key(out, key)?;
            out.push(b':');
            map.next_value_seed(Emit {
                out: &mut *out,
                node: live(field.map(|f| &f.next), denied),
                denied,
            })?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// serde_json's own number and string formatting, so output matches `to_vec(&Value)`.
fn write<T: serde::Serialize + ?Sized, E: de::Error>(out: &mut Vec<u8>, v: &T) -> Result<(), E> {
    // Writing into a Vec cannot fail; map rather than unwrap all the same.
    serde_json::to_writer(out, v).map_err(E::custom)
}

/// A key borrowed from the input had no escapes, and the parser refuses raw control
/// characters: its bytes are already a valid JSON string body. Only a key that had
/// escapes is encoded again.
fn write_key<E: de::Error>(out: &mut Vec<u8>, key: Cow<'_, str>) -> Result<(), E> {
    match key {
        Cow::Borrowed(key) => {
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.push(b'"');
            Ok(())
        }
        Cow::Owned(key) => write(out, key.as_str()),
    }
}

// === impl Key ===

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}
