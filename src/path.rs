//! Path safety (docs/reference.md#path-safety): a pure check that the path is in normal form, so the path
//! that is authorized is the path that is forwarded, byte for byte, and no backend can
//! read it as a different path than the one the route table matched.
//!
//! [`check`] takes the path only. The query string is not part of the path (RFC 3986
//! §3.4): the caller passes `uri.path()`, never `path_and_query`, so `/a?b=../..` is
//! checked as `/a`. A `..` inside a query is the upstream's business, not a path
//! traversal.
//!
//! One pass over the bytes, no allocation: each byte is percent-decoded on the fly and
//! fed to a UTF-8 validator (which also spots look-alike and control code points) and
//! to a per-segment state that tells whether the segment, once `;` parameters are cut
//! off and escapes decoded, is `.`, `..` or empty.

#[cfg(test)]
mod tests;

/// Why a path was refused (for logs and tests; the client always gets the same 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UnsafePath {
    #[error("path does not start with '/'")]
    NotAbsolute,
    /// RFC 3986 §5.2.4 dot segments, raw or percent-encoded (`.`, `%2e`, `.%2E`).
    #[error("path has a '.' or '..' segment")]
    DotSegment,
    /// `..;x`: Tomcat-style backends cut `;` parameters and then see `..`.
    #[error("path has a segment that is '.' or '..' once ';' parameters are cut off")]
    DotSegmentWithParams,
    #[error("path has an empty segment")]
    EmptySegment,
    #[error("path has an encoded '/' (%2f)")]
    EncodedSlash,
    #[error("path has an encoded '\\' (%5c)")]
    EncodedBackslash,
    #[error("path has a '\\'")]
    Backslash,
    /// Raw or `%00`.
    #[error("path has a NUL byte")]
    Nul,
    /// `%25`: a backend that decodes twice would see a different path.
    #[error("path has an encoded '%' (%25)")]
    EncodedPercent,
    /// `%3b`: backends disagree whether it starts `;` parameters, so it is ambiguous.
    #[error("path has an encoded ';' (%3b)")]
    EncodedSemicolon,
    /// IIS-style `%u002e`.
    #[error("path has a %u escape")]
    PercentU,
    #[error("path has a malformed percent-escape")]
    MalformedEscape,
    /// Includes overlong forms (`%c0%ae`), surrogates and lone continuation bytes.
    #[error("path does not percent-decode to valid UTF-8")]
    InvalidUtf8,
    /// Full-width and other compatibility forms of `.`, `/`, `\` (U+FF0E, U+FF0F,
    /// U+FF3C, ...), which NFKC-normalizing backends fold into the real thing.
    #[error("path has a look-alike of '.', '/' or '\\'")]
    LookAlike,
    /// C0 controls, DEL and C1 controls, raw or encoded.
    #[error("path has a control character")]
    ControlCharacter,
    /// A fragment is never sent to a server (RFC 9110 §4.2.1); one here is a bug upstream of us.
    #[error("path has a '#'")]
    Fragment,
}

/// Accepts `path` (no query) only if it is in normal form (docs/reference.md#path-safety).
pub fn check(path: &str) -> Result<(), UnsafePath> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(UnsafePath::NotAbsolute);
    }
    let mut utf8 = Utf8::default();
    let mut seg = Segment::default();
    let mut i = 1;
    while i < bytes.len() {
        let raw = bytes[i];
        let byte = if raw == b'%' {
            let byte = decode_escape(bytes, i)?;
            i += 3;
            match byte {
                b'/' => return Err(UnsafePath::EncodedSlash),
                b'\\' => return Err(UnsafePath::EncodedBackslash),
                b'%' => return Err(UnsafePath::EncodedPercent),
                b';' => return Err(UnsafePath::EncodedSemicolon),
                _ => {}
            }
            byte
        } else {
            i += 1;
            // Separators also end any multi-byte sequence begun by escapes (`%c3/`).
            utf8.push(raw)?;
            match raw {
                b'/' => {
                    seg.finish(false)?;
                    seg = Segment::default();
                    continue;
                }
                b'\\' => return Err(UnsafePath::Backslash),
                b'#' => return Err(UnsafePath::Fragment),
                b';' => {
                    seg.raw_len += 1;
                    seg.in_params = true;
                    continue;
                }
                _ => {}
            }
            raw
        };
        match byte {
            0 => return Err(UnsafePath::Nul),
            0x01..=0x1f | 0x7f => return Err(UnsafePath::ControlCharacter),
            _ => {}
        }
        if raw == b'%' {
            utf8.push(byte)?;
        }
        seg.push(byte);
    }
    utf8.finish()?;
    seg.finish(true)
}

/// The byte that the escape at `bytes[at] == b'%'` stands for.
fn decode_escape(bytes: &[u8], at: usize) -> Result<u8, UnsafePath> {
    let hi = bytes.get(at + 1).copied();
    if matches!(hi, Some(b'u' | b'U')) {
        return Err(UnsafePath::PercentU);
    }
    let hi = hi.and_then(hex).ok_or(UnsafePath::MalformedEscape)?;
    let lo = bytes
        .get(at + 2)
        .copied()
        .and_then(hex)
        .ok_or(UnsafePath::MalformedEscape)?;
    Ok(hi << 4 | lo)
}

/// The value of one hex digit (RFC 3986 §2.1: either case).
pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// What is known about the current segment so far.
#[derive(Default)]
struct Segment {
    /// Raw bytes seen (escapes count as one; only zero matters).
    raw_len: usize,
    /// Decoded bytes before the first raw `;`.
    key_len: usize,
    /// Whether every decoded key byte was `.`.
    key_not_dots: bool,
    in_params: bool,
}

impl Segment {
    fn push(&mut self, byte: u8) {
        self.raw_len += 1;
        if !self.in_params {
            self.key_len += 1;
            self.key_not_dots |= byte != b'.';
        }
    }

    /// Called at each `/` and at the end; only the last segment may be empty, which is
    /// the single trailing `/` docs/reference.md#path-safety allows (and the root `/`).
    fn finish(&self, last: bool) -> Result<(), UnsafePath> {
        if self.raw_len == 0 {
            return if last {
                Ok(())
            } else {
                Err(UnsafePath::EmptySegment)
            };
        }
        if self.key_len == 0 {
            // `/;x/`: after cutting parameters the segment is empty, which
            // Tomcat-style backends then merge away like `//`.
            return Err(UnsafePath::EmptySegment);
        }
        if !self.key_not_dots && self.key_len <= 2 {
            return Err(if self.in_params {
                UnsafePath::DotSegmentWithParams
            } else {
                UnsafePath::DotSegment
            });
        }
        Ok(())
    }
}

/// A streaming UTF-8 validator over the decoded bytes (RFC 3629 §4 well-formed
/// sequences only, so overlong forms and surrogates fail), which also looks at each
/// completed code point.
#[derive(Default)]
struct Utf8 {
    code_point: u32,
    /// Continuation bytes still expected.
    needed: u8,
    /// Allowed range of the next continuation byte (narrowed after E0, ED, F0, F4).
    lower: u8,
    upper: u8,
}

impl Utf8 {
    fn push(&mut self, b: u8) -> Result<(), UnsafePath> {
        if self.needed == 0 {
            let (needed, bits, lower, upper) = match b {
                0x00..=0x7f => return Ok(()),
                0xc2..=0xdf => (1, b & 0x1f, 0x80, 0xbf),
                0xe0 => (2, 0, 0xa0, 0xbf),
                0xe1..=0xec | 0xee..=0xef => (2, b & 0x0f, 0x80, 0xbf),
                0xed => (2, 0x0d, 0x80, 0x9f),
                0xf0 => (3, 0, 0x90, 0xbf),
                0xf1..=0xf3 => (3, b & 0x07, 0x80, 0xbf),
                0xf4 => (3, 0x04, 0x80, 0x8f),
                _ => return Err(UnsafePath::InvalidUtf8),
            };
            *self = Self {
                code_point: u32::from(bits),
                needed,
                lower,
                upper,
            };
            return Ok(());
        }
        if b < self.lower || b > self.upper {
            return Err(UnsafePath::InvalidUtf8);
        }
        self.code_point = self.code_point << 6 | u32::from(b & 0x3f);
        self.needed -= 1;
        self.lower = 0x80;
        self.upper = 0xbf;
        if self.needed == 0 {
            check_code_point(self.code_point)?;
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), UnsafePath> {
        if self.needed == 0 {
            Ok(())
        } else {
            Err(UnsafePath::InvalidUtf8)
        }
    }
}

/// Non-ASCII code points that must not appear in a path.
fn check_code_point(cp: u32) -> Result<(), UnsafePath> {
    match cp {
        0x80..=0x9f => Err(UnsafePath::ControlCharacter),
        // NFKC folds each of these into `.`, `..`, `/` or `\`: U+2024 ONE DOT LEADER,
        // U+2025 TWO DOT LEADER, U+FE30 (vertical two dot leader), U+FE52 SMALL FULL
        // STOP, U+FE68 SMALL REVERSE SOLIDUS, U+FF0E, U+FF0F, U+FF3C (full-width).
        0x2024 | 0x2025 | 0xfe30 | 0xfe52 | 0xfe68 | 0xff0e | 0xff0f | 0xff3c => {
            Err(UnsafePath::LookAlike)
        }
        _ => Ok(()),
    }
}
