//! One-pass filter: parse JSON with serde_json and write it back compactly, dropping
//! denied fields on the way, without building a `serde_json::Value`.
//!
//! The output is byte-for-byte what `serde_json::to_vec` of the filtered `Value` would
//! be, except that duplicate keys are kept rather than collapsed to the last one. Every
//! copy of a duplicate goes through the same rule, so a protected field cannot survive
//! through a duplicate either way.
//!
//! Removed values are still parsed and written, then cut off: the document is validated
//! exactly as strictly whichever fields the token may see.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::tree::{live, Denied, Node};

/// Filters `body` into `out`; on error `out` holds a partial document and must be dropped.
pub(super) fn transcode(
    root: &Node,
    denied: &Denied,
    body: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
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
        de.deserialize_any(self)
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
            let mark = out.len();
            if !first {
                out.push(b',');
            }
            write(out, &*key)?;
            out.push(b':');
            let field = node.and_then(|n| n.field(&key));
            let removed = field.is_some_and(|f| f.is_removed(denied));
            let next = if removed {
                None
            } else {
                live(field.map(|f| &f.next), denied)
            };
            map.next_value_seed(Emit {
                out: &mut *out,
                node: next,
                denied,
            })?;
            if removed {
                out.truncate(mark);
            } else {
                first = false;
            }
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
