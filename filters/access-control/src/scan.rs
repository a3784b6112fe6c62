//! The request headers the filter reads, found in one pass over the request.
//!
//! Names are compared without regard to ASCII case, as [`HeaderMap::values`] does. A
//! 64-bit mask keyed by the length and last byte of the names read lets most headers of a
//! request cost one bit test.

use wasmesh_sdk::HeaderMap;

/// The occurrences of one header in a request: how many, and the first value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeaderLookup<'a> {
    /// The first value, when the header is present.
    pub first: Option<&'a [u8]>,
    /// How many times the header appears.
    pub count: usize,
}

impl<'a> HeaderLookup<'a> {
    /// The occurrences of `name` in `headers`.
    pub fn of(headers: &'a HeaderMap, name: &str) -> Self {
        Self {
            first: headers.first(name),
            count: headers.count(name),
        }
    }

    /// The value when the header appears exactly once; `Err(n)` with the count otherwise
    /// (as [`HeaderMap::single`]).
    pub fn single(&self) -> Result<&'a [u8], usize> {
        match (self.count, self.first) {
            (1, Some(value)) => Ok(value),
            (count, _) => Err(count),
        }
    }

    /// Whether the header appears at all.
    pub fn is_present(&self) -> bool {
        self.count > 0
    }

    fn add(&mut self, value: &'a [u8]) {
        if self.count == 0 {
            self.first = Some(value);
        }
        self.count += 1;
    }
}

/// What a header read by the filter is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Method,
    Path,
    Authority,
    Caller,
    Xfcc,
    Upstream,
    MethodOverride,
}

/// The headers of one request that the filter reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScannedHeaders<'a> {
    /// `:method`.
    pub method: HeaderLookup<'a>,
    /// `:path`.
    pub path: HeaderLookup<'a>,
    /// `:authority`.
    pub authority: HeaderLookup<'a>,
    /// The caller-name header (absent when that source is not configured).
    pub caller: HeaderLookup<'a>,
    /// `x-forwarded-client-cert`.
    pub xfcc: HeaderLookup<'a>,
    /// The header carrying the verified caller upstream.
    pub upstream: HeaderLookup<'a>,
    /// Whether any method-override header is present.
    pub method_override: bool,
}

impl<'a> ScannedHeaders<'a> {
    fn record(&mut self, role: Role, value: &'a [u8]) {
        match role {
            Role::Method => self.method.add(value),
            Role::Path => self.path.add(value),
            Role::Authority => self.authority.add(value),
            Role::Caller => self.caller.add(value),
            Role::Xfcc => self.xfcc.add(value),
            Role::Upstream => self.upstream.add(value),
            Role::MethodOverride => self.method_override = true,
        }
    }
}

/// The compiled list of the header names the filter reads.
#[derive(Debug, Clone)]
pub struct HeaderScan {
    /// Lowercase names and what each is read for (a name may appear more than once).
    names: Vec<(Box<str>, Role)>,
    /// The [`mask_bit`] of every name.
    mask: u64,
}

impl HeaderScan {
    /// The scan for the pseudo-headers, the caller-name header when configured,
    /// `x-forwarded-client-cert`, the upstream caller header and the method-override
    /// headers (all names lowercase).
    pub fn new(
        caller_header: Option<&str>,
        xfcc_header: &str,
        upstream_header: &str,
        method_override_headers: &[Box<str>],
    ) -> Self {
        let mut names: Vec<(Box<str>, Role)> = vec![
            (":method".into(), Role::Method),
            (":path".into(), Role::Path),
            (":authority".into(), Role::Authority),
            (xfcc_header.into(), Role::Xfcc),
            (upstream_header.into(), Role::Upstream),
        ];
        if let Some(caller) = caller_header {
            names.push((caller.into(), Role::Caller));
        }
        names.extend(
            method_override_headers
                .iter()
                .map(|name| (name.clone(), Role::MethodOverride)),
        );
        let mask = names
            .iter()
            .fold(0, |mask, (name, _)| mask | mask_bit(name.as_bytes()));
        Self { names, mask }
    }

    /// Reads the headers of interest from `headers`, in one pass.
    pub fn scan<'a>(&self, headers: &'a HeaderMap) -> ScannedHeaders<'a> {
        let mut scanned = ScannedHeaders::default();
        for (name, value) in headers.iter() {
            if self.mask & mask_bit(name) == 0 {
                continue;
            }
            for (known, role) in &self.names {
                let known = known.as_bytes();
                if name.len() == known.len() && (name == known || name.eq_ignore_ascii_case(known))
                {
                    scanned.record(*role, value);
                }
            }
        }
        scanned
    }
}

/// The bit of [`HeaderScan::mask`] for `name`, from its length and last byte (in any
/// ASCII case): equal names have the same bit.
fn mask_bit(name: &[u8]) -> u64 {
    let last = name.last().map_or(0, u8::to_ascii_lowercase);
    let key = name.len().wrapping_mul(31).wrapping_add(usize::from(last));
    1 << (key % 64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lookups_match_the_header_map() {
        let long = "x".repeat(200);
        let pairs = [
            (":method", "GET"),
            (":path", "/a"),
            (":Path", "/b"),
            ("X-Caller", "frontend"),
            ("x-caller", "other"),
            ("x-upstream", "u"),
            (long.as_str(), "l"),
            ("user-agent", "ua"),
            (":authority", "svc"),
        ];
        let headers = HeaderMap::from(&pairs[..]);
        let overrides: Vec<Box<str>> = vec!["x-http-method".into(), long.as_str().into()];
        let scan = HeaderScan::new(
            Some("x-caller"),
            "x-forwarded-client-cert",
            "x-upstream",
            &overrides,
        );
        let scanned = scan.scan(&headers);
        let expected = |name: &str| HeaderLookup::of(&headers, name);
        assert_eq!(scanned.method, expected(":method"));
        assert_eq!(scanned.path, expected(":path"));
        assert_eq!(scanned.path.single(), headers.single(":path"));
        assert_eq!(scanned.method.single(), headers.single(":method"));
        assert_eq!(scanned.authority, expected(":authority"));
        assert_eq!(scanned.caller, expected("x-caller"));
        assert_eq!(scanned.caller.count, 2);
        assert_eq!(scanned.caller.first, Some(&b"frontend"[..]));
        assert_eq!(scanned.xfcc, HeaderLookup::default());
        assert_eq!(scanned.xfcc.single(), Err(0));
        assert!(!scanned.xfcc.is_present());
        assert!(scanned.upstream.is_present());
        assert!(scanned.method_override, "the long override name is present");

        let without_caller = HeaderScan::new(None, "x-forwarded-client-cert", "x-up", &[]);
        let scanned = without_caller.scan(&headers);
        assert_eq!(scanned.caller, HeaderLookup::default());
        assert!(!scanned.method_override);
        assert!(!scanned.upstream.is_present());
    }
}
