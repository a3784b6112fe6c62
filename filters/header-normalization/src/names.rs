//! Header names: syntax checks and the compiled name sets the rules look names up in.

/// A byte of a header name that is not an RFC 9110 `tchar` (see [`name_shape`]).
pub const NAME_INVALID: u8 = 1;
/// An uppercase ASCII letter in a header name.
pub const NAME_UPPER: u8 = 2;
/// An `_` in a header name.
pub const NAME_UNDERSCORE: u8 = 4;
/// A byte of a host name other than a lowercase ASCII letter, a digit, `-`, `_` or `~`
/// (see [`crate::authority`]).
pub const HOST_SPECIAL: u8 = 8;

/// The classes of every byte: [`NAME_INVALID`], [`NAME_UPPER`] and [`NAME_UNDERSCORE`]
/// (none for the other `tchar`s: lowercase letters, digits, ``!#$%&'*+-.^`|~``), and
/// [`HOST_SPECIAL`].
static BYTE_CLASSES: [u8; 256] = byte_classes();

const fn byte_classes() -> [u8; 256] {
    let mut table = [NAME_INVALID | HOST_SPECIAL; 256];
    let mut byte = 0u8;
    let mut rest: &mut [u8] = &mut table;
    while let [class, tail @ ..] = rest {
        let name = if byte.is_ascii_uppercase() {
            NAME_UPPER
        } else if byte == b'_' {
            NAME_UNDERSCORE
        } else if byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'`' | b'|' | b'~'
            )
        {
            0
        } else {
            NAME_INVALID
        };
        let host = if byte.is_ascii_lowercase()
            || byte.is_ascii_digit()
            || matches!(byte, b'-' | b'_' | b'~')
        {
            0
        } else {
            HOST_SPECIAL
        };
        *class = name | host;
        byte = byte.wrapping_add(1);
        rest = tail;
    }
    table
}

/// The [`BYTE_CLASSES`] of `byte` (a plain load: the index is below 256).
#[inline(always)]
pub fn byte_class(byte: u8) -> u8 {
    BYTE_CLASSES
        .get(usize::from(byte))
        .copied()
        .unwrap_or(NAME_INVALID | HOST_SPECIAL)
}

/// The name classes ([`NAME_INVALID`], [`NAME_UPPER`], [`NAME_UNDERSCORE`]) of `byte`.
#[inline(always)]
fn name_byte(byte: u8) -> u8 {
    byte_class(byte) & (NAME_INVALID | NAME_UPPER | NAME_UNDERSCORE)
}

/// RFC 9110 `tchar`: the characters of a token (header names, methods).
#[inline(always)]
pub fn is_tchar(byte: u8) -> bool {
    name_byte(byte) & NAME_INVALID == 0
}

/// Whether `bytes` is a non-empty RFC 9110 token.
pub fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| is_tchar(byte))
}

/// Whether `name` equals `lower`, ASCII case-insensitively, where `lower` holds no
/// uppercase letter (a configured or built-in name).
#[inline(always)]
pub fn eq_lowercase(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && same_lowercase(name, lower)
}

/// [`eq_lowercase`] for names of the same length.
fn same_lowercase(name: &[u8], lower: &[u8]) -> bool {
    name.iter()
        .zip(lower)
        .all(|(&byte, &expected)| byte.to_ascii_lowercase() == expected)
}

/// Whether `a` equals `b`, ASCII case-insensitively (`<[u8]>::eq_ignore_ascii_case`,
/// with the length compared first so that most mismatches cost one comparison).
#[inline(always)]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.eq_ignore_ascii_case(b)
}

/// Whether `name` is a valid header name: a token, or `:` followed by a token for a
/// pseudo-header.
#[cfg(test)]
pub fn is_valid_name(name: &[u8]) -> bool {
    underscore_in_name(name).is_some()
}

/// `None` when `name` is not a valid header name (a token, or `:` followed by a token);
/// otherwise whether it has `_`.
#[cfg(test)]
pub fn underscore_in_name(name: &[u8]) -> Option<bool> {
    let shape = name_shape(name);
    (shape & NAME_INVALID == 0).then_some(shape & NAME_UNDERSCORE != 0)
}

/// What the bytes of a header name are: [`NAME_INVALID`] when it is not a token (after
/// the `:` of a pseudo-header), and [`NAME_UPPER`] and [`NAME_UNDERSCORE`] when it has
/// such bytes; 0 for a valid name of lowercase `tchar`s without `_`. (Byte by byte:
/// [`NameTable::classify`] tells most names eight bytes at a time.)
#[inline(never)]
pub fn name_shape(name: &[u8]) -> u8 {
    let token = match name {
        [b':', token @ ..] => token,
        _ => name,
    };
    if token.is_empty() {
        NAME_INVALID
    } else {
        token.iter().fold(0, |shape, &byte| shape | name_byte(byte))
    }
}

/// The little-endian word of eight bytes.
#[inline(always)]
fn word([a, b, c, d, e, f, g, h]: [&u8; 8]) -> u64 {
    u64::from_le_bytes([*a, *b, *c, *d, *e, *f, *g, *h])
}

/// Whether [`control_flags`] finds nothing in words that together hold every byte of
/// `bytes` (eight or more) and nothing else: sixteen and then eight bytes at a time,
/// the last word overlapping the one before it.
fn no_control_words(bytes: &[u8]) -> bool {
    let [.., a, b, c, d, e, f, g, h] = bytes else {
        return false;
    };
    let mut flags = control_flags(word([a, b, c, d, e, f, g, h]));
    let mut rest = bytes;
    while let [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, tail @ ..] = rest {
        flags |= control_flags(word([a, b, c, d, e, f, g, h]))
            | control_flags(word([i, j, k, l, m, n, o, p]));
        rest = tail;
    }
    if let [a, b, c, d, e, f, g, h, ..] = rest {
        flags |= control_flags(word([a, b, c, d, e, f, g, h]));
    }
    flags == 0
}

/// Whether `bytes` holds a `,`: eight bytes at a time, the last word overlapping the one
/// before it.
pub fn has_comma(bytes: &[u8]) -> bool {
    const COMMAS: u64 = ONES * b',' as u64;
    // The high bit of a byte that is `,`, and perhaps of bytes after one.
    let commas = |word: u64| {
        let xor = word ^ COMMAS;
        xor.wrapping_sub(ONES) & !xor & HIGH_BITS
    };
    let [.., a, b, c, d, e, f, g, h] = bytes else {
        return bytes.contains(&b',');
    };
    let mut found = commas(word([a, b, c, d, e, f, g, h]));
    let mut rest = bytes;
    while let [a, b, c, d, e, f, g, h, tail @ ..] = rest {
        found |= commas(word([a, b, c, d, e, f, g, h]));
        rest = tail;
    }
    // The lowest byte flagged is a `,` (a false alarm needs a `,` below it).
    found != 0
}

/// The word of the first and last four of four to seven bytes (overlapping), which holds
/// each of them in a place that depends only on their number; `None` for fewer or more.
#[inline(always)]
fn short_word(bytes: &[u8]) -> Option<u64> {
    match (bytes, bytes) {
        ([a, b, c, d, ..], [.., e, f, g, h]) if bytes.len() < 8 => {
            Some(word([a, b, c, d, e, f, g, h]))
        }
        _ => None,
    }
}

/// Two words that, with its length, tell a name from every other of the same length up
/// to 16 bytes: its first and last eight bytes (the last mixed with a [`hash`] of the
/// bytes between for a longer name), or [`short_word`] for four to seven bytes, or the
/// number its bytes make for fewer.
#[inline(always)]
fn fingerprint(name: &[u8]) -> (u64, u64) {
    match (name, name) {
        ([a, b, c, d, e, f, g, h, middle @ .., i, j, k, l, m, n, o, p], _) => (
            word([a, b, c, d, e, f, g, h]),
            word([i, j, k, l, m, n, o, p]) ^ hash(middle),
        ),
        ([a, b, c, d, e, f, g, h, ..], [.., i, j, k, l, m, n, o, p]) => (
            word([a, b, c, d, e, f, g, h]),
            word([i, j, k, l, m, n, o, p]),
        ),
        _ => match short_word(name) {
            Some(word) => (word, 0),
            None => (
                name.iter()
                    .fold(0, |word, &byte| word << 8 | u64::from(byte)),
                0,
            ),
        },
    }
}

/// A hash of `bytes`.
#[inline(never)]
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |hash: u64, &byte| {
        (hash.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3)
    })
}

/// [`name_shape`] of `name`: 0 at once for a name of lowercase letters, digits and `-`
/// (the most common), tested eight bytes at a time.
#[inline(always)]
fn shape_of(name: &[u8]) -> u8 {
    if is_plain_name(name) {
        0
    } else {
        name_shape(name)
    }
}

/// Whether `name` has four bytes or more, each a lowercase letter, a digit or `-`:
/// eight bytes at a time, the last word overlapping the one before it ([`short_word`]
/// for fewer than eight).
#[inline(never)]
fn is_plain_name(name: &[u8]) -> bool {
    let mut at = 0;
    loop {
        let last = name.len().saturating_sub(8);
        let word = match name.get(at.min(last)..) {
            Some([a, b, c, d, e, f, g, h, ..]) => word([a, b, c, d, e, f, g, h]),
            _ => match short_word(name) {
                Some(word) => word,
                None => return false,
            },
        };
        if !plain_word(word) {
            return false;
        }
        if at >= last {
            return true;
        }
        at += 8;
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether each byte of `word` is a lowercase letter, a digit or `-`.
#[cfg(test)]
fn is_plain_word(word: &[u8; 8]) -> bool {
    plain_word(u64::from_le_bytes(*word))
}

/// Whether each byte of the little-endian `word` is a lowercase letter, a digit or `-`.
#[inline(always)]
fn plain_word(word: u64) -> bool {
    // For bytes below 0x80, `byte + (0x80 - low)` has its high bit set when `byte >= low`
    // and `byte + (0x7F - high)` when `byte > high`; no sum carries into the next byte.
    let within = |low: u8, high: u8| {
        let at_least_low = word.wrapping_add(ONES * u64::from(0x80 - low));
        let above_high = word.wrapping_add(ONES * u64::from(0x7F - high));
        at_least_low & !above_high
    };
    let plain = within(b'a', b'z') | within(b'0', b'9') | within(b'-', b'-');
    word & HIGH_BITS == 0 && plain & HIGH_BITS == HIGH_BITS
}

/// Whether `name` is a pseudo-header (`:path`, `:authority`, ...).
#[inline(always)]
pub fn is_pseudo(name: &[u8]) -> bool {
    matches!(name, [b':', ..])
}

/// Whether a header value holds a control character other than horizontal tab
/// (RFC 9110 §5.5: NUL, CR and LF are never allowed, other controls are invalid).
#[inline(always)]
pub fn has_control(value: &[u8]) -> bool {
    // Eight bytes at a time when no word may hold one; byte by byte otherwise.
    let clean = match short_word(value) {
        Some(word) => no_control_word(word),
        None => no_control_words(value),
    };
    !clean && has_control_byte(value)
}

/// [`has_control`], byte by byte.
#[inline(never)]
fn has_control_byte(value: &[u8]) -> bool {
    value
        .iter()
        .any(|&byte| (byte < 0x20 && byte != b'\t') || byte == 0x7F)
}

/// Whether no byte of the little-endian `word` is below 0x20 (tab included) or 0x7F
/// (it may say there is one when there is none, never the other way round).
#[inline(always)]
fn no_control_word(word: u64) -> bool {
    control_flags(word) == 0
}

/// The high bit of every byte of the little-endian `word` that is below 0x20 or 0x7F,
/// and perhaps of other bytes after such a byte or after 0xFF; 0 only when there is none.
#[inline(always)]
fn control_flags(word: u64) -> u64 {
    // Below 0x80, `byte - 0x20` sets the high bit for a byte below 0x20 and `byte + 1`
    // for 0x7F; a borrow or carry across bytes only adds false alarms.
    (word.wrapping_sub(ONES * 0x20) | word.wrapping_add(ONES)) & !word & HIGH_BITS
}

pub use wasmesh_sdk::headers::trim_ows;

/// Whether `name` is a hop-by-hop header of RFC 9110 §7.6.1 (besides those `connection`
/// names): `connection`, `keep-alive`, `proxy-connection`, `te`, `transfer-encoding`,
/// `upgrade` (ASCII case-insensitive).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    let same = |hop: &[u8]| same_lowercase(name, hop);
    match name.len() {
        2 => same(b"te"),
        7 => same(b"upgrade"),
        10 => same(b"connection") || same(b"keep-alive"),
        16 => same(b"proxy-connection"),
        17 => same(b"transfer-encoding"),
        _ => false,
    }
}

/// The comma-separated tokens of a list header such as `connection`, trimmed, empty
/// elements skipped.
pub fn list_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&byte| byte == b',')
        .map(trim_ows)
        .filter(|token| !token.is_empty())
}

/// A set of header names, each an exact name or a prefix (written with a trailing `*`),
/// held lowercase; lookups are ASCII case-insensitive and do not allocate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    exact: Vec<Box<str>>,
    prefixes: Vec<Box<str>>,
    /// Bit `n` (`n` < 63) set when an exact name has `n` bytes, bit 63 for longer
    /// names: with [`NameSet::exact_first_bytes`], most names are ruled out without a
    /// comparison.
    exact_lengths: u64,
    /// The [`first_byte_bit`]s of the exact names.
    exact_first_bytes: u64,
    /// The [`first_byte_bit`]s of the prefixes.
    prefix_first_bytes: u64,
}

/// The bit of [`NameSet::exact_lengths`] for a name of `len` bytes.
fn length_bit(len: usize) -> u64 {
    1 << len.min(63)
}

/// Bit `b % 64` for the lowercased first byte `b` of `name`; none for an empty name.
fn first_byte_bit(name: &[u8]) -> u64 {
    name.first()
        .map_or(0, |byte| 1 << (byte.to_ascii_lowercase() % 64))
}

impl NameSet {
    /// Adds `entry` (`x-user`, or `x-envoy-*` for every name starting with `x-envoy-`),
    /// or says why it is not a header name or prefix. `*` is allowed only at the end.
    pub fn insert_pattern(&mut self, entry: &str) -> Result<(), String> {
        let lower = entry.to_ascii_lowercase();
        match lower.strip_suffix('*') {
            Some(prefix) => {
                if !is_token(prefix.as_bytes()) || prefix.contains('*') {
                    return Err(format!(
                        "`{entry}` is not a header name prefix (a token followed by `*`)"
                    ));
                }
                self.prefix_first_bytes |= first_byte_bit(prefix.as_bytes());
                self.prefixes.push(prefix.into());
                Ok(())
            }
            None if lower.contains('*') => Err(format!(
                "`{entry}` has `*` other than as a final prefix wildcard"
            )),
            None => self.insert_exact(entry),
        }
    }

    /// Adds the exact name `name`, or says why it is not a header name.
    pub fn insert_exact(&mut self, name: &str) -> Result<(), String> {
        check_name(name)?;
        self.exact_lengths |= length_bit(name.len());
        self.exact_first_bytes |= first_byte_bit(name.as_bytes());
        self.exact.push(name.to_ascii_lowercase().into());
        Ok(())
    }

    /// Whether `name` is in the set.
    #[inline]
    pub fn contains(&self, name: &[u8]) -> bool {
        let first = first_byte_bit(name);
        (self.exact_lengths & length_bit(name.len()) != 0
            && self.exact_first_bytes & first != 0
            && self.contains_exact(name))
            || (self.prefix_first_bytes & first != 0 && self.contains_prefix_of(name))
    }

    /// The first entry of `other` (lowercase, a prefix with its `*`) naming a header this
    /// set does not hold: `None` when every name in `other` is in this set too.
    pub fn first_not_covered(&self, other: &NameSet) -> Option<String> {
        let exact = other
            .exact
            .iter()
            .find(|name| !self.contains(name.as_bytes()))
            .map(|name| name.to_string());
        exact.or_else(|| {
            other
                .prefixes
                .iter()
                .find(|prefix| !self.contains_prefix_of(prefix.as_bytes()))
                .map(|prefix| format!("{prefix}*"))
        })
    }

    fn contains_exact(&self, name: &[u8]) -> bool {
        self.exact
            .iter()
            .any(|exact| eq_lowercase(name, exact.as_bytes()))
    }

    fn contains_prefix_of(&self, name: &[u8]) -> bool {
        self.prefixes.iter().any(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|head| same_lowercase(head, prefix.as_bytes()))
        })
    }
}

/// What a header name is to the rules, for [`NameTable`]: bits, several for a name in
/// several roles.
pub mod role {
    /// `:method`.
    pub const METHOD: u16 = 1;
    /// `:path`.
    pub const PATH: u16 = 1 << 1;
    /// `:scheme`.
    pub const SCHEME: u16 = 1 << 2;
    /// `:authority` or `host`.
    pub const AUTHORITY: u16 = 1 << 3;
    /// `connection`.
    pub const CONNECTION: u16 = 1 << 4;
    /// `te`, when hop-by-hop headers are stripped (kept only as `te: trailers`).
    pub const TE: u16 = 1 << 5;
    /// A singleton (every known pseudo-header, `host` with `:authority`).
    pub const SINGLETON: u16 = 1 << 6;
    /// A singleton whose value may hold a second one joined with a comma.
    pub const JOINABLE: u16 = 1 << 7;
    /// A field that a rule changes: a hop-by-hop header other than `te` (when they are
    /// stripped), a legacy name.
    pub const CHANGED: u16 = 1 << 8;
    /// An internal header: dropped unless the caller is trusted.
    pub const INTERNAL: u16 = 1 << 9;
}

/// What a header name is: its [`name_shape`], its [`role`]s and its singleton bit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NameClass {
    /// Its [`name_shape`].
    pub shape: u8,
    /// Its [`role`] bits.
    pub roles: u16,
    /// For a singleton, the bit it is counted under in a set of singletons seen; several
    /// singletons may share one (when more than 64 are configured).
    pub singleton: u64,
}

/// Every header name some rule treats specially, with its roles, found by one hash and
/// usually one comparison of two words; and the prefixes of internal headers.
///
/// Names are held by their [`fingerprint`]s, which tell names of up to 16 bytes apart
/// exactly. A longer name the table mistakes for one of its own gets that name's roles,
/// which can only make a request take the full rules (never its shape, which is then
/// found from its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameTable {
    /// An open-addressing table of [`SLOTS`] slots of four words, one name each: its
    /// fingerprint's two words, its length (0 for a free slot) with its shape (bits 32 to
    /// 39) and roles (bits 40 to 55), and its singleton bit.
    slots: Vec<u64>,
    /// The names in `slots`.
    len: usize,
    /// Whether a name was left out, the table being full.
    overflowed: bool,
    prefixes: Vec<Box<[u8]>>,
    /// The [`prefix_key`] bits of the prefixes.
    prefix_keys: u64,
}

/// Common request header names of up to 16 bytes (longer ones would be checked byte by
/// byte all the same) with no role, separated by spaces: those of browsers, and tracing
/// and proxy headers.
const COMMON_NAMES: &str = "accept accept-encoding accept-language cache-control \
    content-encoding content-type cookie if-none-match origin pragma priority range referer \
    user-agent sec-ch-ua sec-fetch-dest sec-fetch-mode sec-fetch-site sec-fetch-user \
    tracestate baggage b3 x-b3-traceid x-b3-spanid x-b3-sampled grpc-timeout x-request-id \
    x-forwarded-for x-forwarded-host x-requested-with";

/// The slots of a [`NameTable`]: a quarter full with 64 names (the default configuration
/// has 46, common names included).
const SLOTS: usize = 256;

impl Default for NameTable {
    fn default() -> Self {
        Self {
            slots: vec![0; 4 * SLOTS],
            len: 0,
            overflowed: false,
            prefixes: Vec::new(),
            prefix_keys: 0,
        }
    }
}

/// The first slot to look in for a name of fingerprint `(head, tail)` and length `len`.
#[inline(always)]
fn slot_of((head, tail): (u64, u64), len: u64) -> usize {
    let mixed = (head ^ tail.rotate_left(29) ^ len).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 56) as usize
}

/// A bit from the first and third bytes of a name or prefix; every bit when it is
/// shorter than three bytes.
#[inline(always)]
fn prefix_key(name: &[u8]) -> u64 {
    match name {
        [first, _, third, ..] => 1 << ((first ^ third.wrapping_mul(5)) % 64),
        _ => u64::MAX,
    }
}

impl NameTable {
    /// The table of a configuration: the pseudo-headers and the `singletons` with their
    /// bits (`host` sharing `:authority`'s), `connection` and, if they are stripped, the
    /// hop-by-hop names, the `internal` names and prefixes, the legacy names of `renames`,
    /// and [`COMMON_NAMES`] (with no role).
    pub fn new(
        singletons: &NameSet,
        internal: &NameSet,
        renames: &[(Box<str>, Box<str>)],
        strip_hop_by_hop: bool,
    ) -> Self {
        const AUTHORITY: u16 = role::AUTHORITY | role::SINGLETON | role::JOINABLE;
        static BUILTIN: [(&str, u16); 8] = [
            (":authority", AUTHORITY),
            ("host", AUTHORITY),
            (":method", role::METHOD | role::SINGLETON),
            (":path", role::PATH | role::SINGLETON),
            (":scheme", role::SCHEME | role::SINGLETON),
            (":protocol", role::SINGLETON),
            ("connection", role::CONNECTION),
            ("te", role::TE),
        ];
        static HOP_BY_HOP: [&str; 5] = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ];
        let mut table = Self::default();
        let mut bit = 1;
        for &(name, roles) in &BUILTIN {
            if roles & role::SINGLETON != 0 {
                table.add(name, roles, bit);
                // `host` counts as `:authority`.
                if name != ":authority" {
                    bit <<= 1;
                }
            } else if roles != role::TE || strip_hop_by_hop {
                // `te` only matters when hop-by-hop headers are stripped.
                table.add(name, roles, 0);
            }
        }
        for name in &singletons.exact {
            table.add(name, role::SINGLETON | role::JOINABLE, bit);
            bit = bit.rotate_left(1);
        }
        if strip_hop_by_hop {
            for name in &HOP_BY_HOP {
                table.add(name, role::CHANGED, 0);
            }
        }
        for name in &internal.exact {
            table.add(name, role::INTERNAL, 0);
        }
        for (legacy, _) in renames {
            table.add(legacy, role::CHANGED, 0);
        }
        // Common names are found as names of the table, which knows they are valid,
        // rather than checked byte by byte.
        for name in COMMON_NAMES.split(' ') {
            table.add(name, 0, 0);
        }
        for prefix in &internal.prefixes {
            let prefix = prefix.as_bytes();
            table.prefix_keys |= prefix_key(prefix);
            table.prefixes.push(prefix.into());
        }
        table
    }

    /// Gives `name` (lowercase) the [`role`] bits `roles`, added to those it has, and the
    /// singleton bit `singleton` (0 for none) unless it has one.
    #[inline(never)]
    fn add(&mut self, name: &str, roles: u16, singleton: u64) {
        let name = name.as_bytes();
        if name.is_empty() {
            return;
        }
        let (head, tail) = fingerprint(name);
        let len = name.len() as u64;
        let mut index = slot_of((head, tail), len);
        let slot = loop {
            let at = 4 * (index % SLOTS);
            match self.slots.get(at..at + 4) {
                Some(&[other_head, other_tail, meta, _])
                    if meta as u32 != 0
                        && (other_head, other_tail, meta as u32) != (head, tail, len as u32) =>
                {
                    index += 1;
                }
                _ => break self.slots.get_mut(at..at + 4),
            }
        };
        let Some([slot_head, slot_tail, meta, slot_singleton]) = slot else {
            return;
        };
        if *meta as u32 == 0 {
            if self.len == SLOTS - 1 {
                // One slot stays free, so that every search ends: the table is full.
                self.overflowed = true;
                return;
            }
            self.len += 1;
            (*slot_head, *slot_tail) = (head, tail);
            *meta = len | u64::from(name_shape(name)) << 32;
        }
        *meta |= u64::from(roles) << 40;
        if *slot_singleton == 0 {
            *slot_singleton = singleton;
        }
    }

    /// Whether every name given to [`NameTable::add`] is in the table.
    pub fn is_complete(&self) -> bool {
        !self.overflowed
    }

    /// What the name `name` is: a name of the table (compared exactly: lowercase names
    /// only) has its roles, any other none.
    #[inline(always)]
    pub fn classify(&self, name: &[u8]) -> NameClass {
        let (head, tail) = fingerprint(name);
        let len = name.len() as u64;
        let mut index = slot_of((head, tail), len);
        let (meta, singleton) = loop {
            let at = 4 * (index % SLOTS);
            let Some(&[other_head, other_tail, meta, singleton]) = self.slots.get(at..at + 4)
            else {
                break (0, 0);
            };
            if meta as u32 == 0 {
                break (0, 0);
            }
            if (other_head, other_tail, meta as u32) == (head, tail, len as u32) {
                break (meta, singleton);
            }
            index += 1;
        };
        NameClass {
            shape: if meta != 0 && len <= 16 {
                (meta >> 32) as u8
            } else {
                shape_of(name)
            },
            roles: (meta >> 40) as u16,
            singleton,
        }
    }

    /// Whether the lowercase `name` starts with an internal prefix.
    #[inline(always)]
    pub fn has_prefix_of(&self, name: &[u8]) -> bool {
        self.prefix_keys & prefix_key(name) != 0 && self.has_prefix_of_slow(name)
    }

    fn has_prefix_of_slow(&self, name: &[u8]) -> bool {
        self.prefixes.iter().any(|prefix| name.starts_with(prefix))
    }
}

/// Checks that `name` can be configured as a header name: a token (pseudo-headers are
/// not configurable).
pub fn check_name(name: &str) -> Result<(), String> {
    if is_token(name.as_bytes()) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a header name (an RFC 9110 token)"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn tokens_and_names() {
        assert!(is_valid_name(b"x-user"));
        assert!(is_valid_name(b":authority"));
        assert!(is_valid_name(b"X_Odd~Name"));
        for bad in [
            &b""[..],
            b":",
            b"a b",
            b"a:b",
            b"::path",
            b"a\0",
            b"caf\xc3\xa9",
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn plain_words_are_lowercase_letters_digits_and_dashes_only() {
        for base in [*b"abcdefgh", *b"x-0-9-zz", *b"--------"] {
            for position in 0..8 {
                for byte in 0..=255u8 {
                    let mut word = base;
                    word[position] = byte;
                    let plain = word
                        .iter()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
                    assert_eq!(is_plain_word(&word), plain, "{word:?}");
                }
            }
        }
    }

    #[test]
    fn long_names_are_checked_at_every_position() {
        for len in [8, 13, 20] {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut name = b"x-forwarded-for-test".to_vec();
                    name.truncate(len);
                    name[position] = byte;
                    let token = name.strip_prefix(b":").unwrap_or(&name);
                    let expected = is_token(token).then(|| token.contains(&b'_'));
                    assert_eq!(underscore_in_name(&name), expected, "{name:?}");
                }
            }
        }
    }

    #[test]
    fn controls_are_found_in_long_values_at_every_position() {
        for len in [8, 11, 16, 21] {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut value = b"Bearer abc.def ghi-jkl".to_vec();
                    value.truncate(len);
                    value[position] = byte;
                    let control = (byte < 0x20 && byte != b'\t') || byte == 0x7F;
                    assert_eq!(has_control(&value), control, "{value:?}");
                }
            }
        }
    }

    #[test]
    fn controls_except_tab_are_found() {
        assert!(!has_control(b"a\tb \xff"));
        for bad in [&b"a\0"[..], b"a\r", b"\n", b"\x7f", b"\x1b["] {
            assert!(has_control(bad), "{bad:?}");
        }
    }

    #[test]
    fn list_tokens_are_trimmed() {
        let tokens: Vec<&[u8]> = list_tokens(b" close ,, X-Foo,\tupgrade ").collect();
        assert_eq!(tokens, vec![&b"close"[..], b"X-Foo", b"upgrade"]);
    }

    #[test]
    fn name_sets_match_exact_names_and_prefixes_in_any_case() {
        let mut set = NameSet::default();
        assert!(!set.contains(b"x-envoy-internal"));
        set.insert_pattern("X-Envoy-*").unwrap();
        set.insert_pattern("x-forwarded-client-cert").unwrap();
        assert!(set.contains(b"x-envoy-internal"));
        assert!(set.contains(b"X-ENVOY-"));
        assert!(set.contains(b"X-Forwarded-Client-Cert"));
        assert!(!set.contains(b"x-envoy"));
        assert!(!set.contains(b"x-forwarded-client-certs"));
    }

    #[test]
    fn bad_entries_are_refused() {
        let mut set = NameSet::default();
        for bad in ["", "*", "x y", "x-*-*", ":path", "a*b"] {
            assert!(set.insert_pattern(bad).is_err(), "{bad}");
        }
        // `*` is a token character: an exact name may hold one.
        assert!(set.insert_exact("x-*").is_ok());
        assert!(set.insert_exact("x y").is_err());
    }

    #[test]
    fn hop_by_hop_names() {
        assert!(is_hop_by_hop(b"Transfer-Encoding"));
        assert!(is_hop_by_hop(b"te"));
        assert!(!is_hop_by_hop(b"trailer"));
    }

    /// The table of the default configuration.
    fn default_table() -> NameTable {
        let mut singletons = NameSet::default();
        for name in ["host", "authorization", "content-length", "traceparent"] {
            singletons.insert_exact(name).unwrap();
        }
        let mut internal = NameSet::default();
        for entry in ["x-envoy-*", "x-forwarded-client-cert", "x-wasmesh-*"] {
            internal.insert_pattern(entry).unwrap();
        }
        NameTable::new(&singletons, &internal, &[], true)
    }

    #[test]
    fn names_are_classified_as_byte_by_byte_at_every_position() {
        let tables = [NameTable::default(), default_table()];
        for len in 1..=26 {
            let base: Vec<u8> = b"x-forwarded-client-cert-abc"[..len].to_vec();
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut name = base.clone();
                    name[position] = byte;
                    for table in &tables {
                        assert_eq!(
                            table.classify(&name).shape,
                            name_shape(&name),
                            "{:?}",
                            String::from_utf8_lossy(&name)
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_table_knows_the_roles_of_names() {
        let table = default_table();
        let authority = table.classify(b":authority");
        assert_eq!(
            authority.roles,
            role::AUTHORITY | role::SINGLETON | role::JOINABLE
        );
        assert_eq!(table.classify(b"host"), authority);
        let traceparent = table.classify(b"traceparent");
        assert_eq!(traceparent.roles, role::SINGLETON | role::JOINABLE);
        assert_eq!(table.classify(b"authorization").roles, traceparent.roles);
        assert_ne!(traceparent.singleton, 0);
        assert_eq!(traceparent.singleton & authority.singleton, 0);
        assert_eq!(
            table.classify(b"authorization").singleton & traceparent.singleton,
            0
        );
        assert_eq!(table.classify(b":path").roles, role::PATH | role::SINGLETON);
        assert_eq!(table.classify(b"te").roles, role::TE);
        assert_eq!(
            table.classify(b"connection").roles,
            role::CONNECTION | role::CHANGED
        );
        assert_eq!(
            table.classify(b"x-forwarded-client-cert").roles,
            role::INTERNAL
        );
        for unknown in [
            &b"x-forwarded-client-certs"[..],
            b"Host",
            b"x",
            b":foo",
            b"te2",
        ] {
            assert_eq!(table.classify(unknown).roles, 0, "{unknown:?}");
            assert_eq!(table.classify(unknown).singleton, 0, "{unknown:?}");
        }
        assert!(table.has_prefix_of(b"x-envoy-internal"));
        assert!(table.has_prefix_of(b"x-wasmesh-"));
        assert!(!table.has_prefix_of(b"x-envoy"));
        assert!(!table.has_prefix_of(b"x-service-name"));
        assert!(table.is_complete());
    }

    #[test]
    fn common_names_are_valid_short_and_known() {
        let table = default_table();
        for name in COMMON_NAMES.split(' ') {
            assert!(!name.is_empty() && name.len() <= 16, "{name:?}");
            assert_eq!(name_shape(name.as_bytes()), 0, "{name}");
            assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
            assert_eq!(
                table.classify(name.as_bytes()),
                NameClass::default(),
                "{name}"
            );
        }
    }

    #[test]
    fn a_full_table_says_so() {
        let mut singletons = NameSet::default();
        for index in 0..200 {
            singletons
                .insert_exact(&format!("x-singleton-{index}"))
                .unwrap();
        }
        let table = NameTable::new(&singletons, &NameSet::default(), &[], true);
        assert!(table.is_complete());
        for index in 0..200 {
            let class = table.classify(format!("x-singleton-{index}").as_bytes());
            assert_eq!(class.roles, role::SINGLETON | role::JOINABLE, "{index}");
        }
        for index in 200..300 {
            singletons
                .insert_exact(&format!("x-singleton-{index}"))
                .unwrap();
        }
        let table = NameTable::new(&singletons, &NameSet::default(), &[], true);
        assert!(!table.is_complete());
    }

    #[test]
    fn controls_are_found_in_values_of_any_length_at_every_position() {
        for len in 0..=40 {
            for position in 0..len {
                for byte in 0..=255u8 {
                    let mut value = b"Bearer abc.def ghi-jkl mno/pqr stu+vwx yz"[..len].to_vec();
                    value[position] = byte;
                    let control = (byte < 0x20 && byte != b'\t') || byte == 0x7F;
                    assert_eq!(has_control(&value), control, "{value:?}");
                }
            }
        }
    }

    #[test]
    fn commas_are_found_at_every_position() {
        for len in 0..20 {
            for position in 0..len {
                for byte in [b',', b'.', b'\0', 0xAC, 0xFF, b'+', b'-'] {
                    let mut value = b"abcdefghijklmnopqrst"[..len].to_vec();
                    value[position] = byte;
                    assert_eq!(has_comma(&value), value.contains(&b','), "{value:?}");
                }
            }
        }
    }
}
