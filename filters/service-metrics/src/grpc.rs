//! gRPC: recognising a gRPC request and finding its status.
//!
//! The status comes from the `grpc-status` trailer, or from the response headers for a
//! trailers-only response (which is also how Envoy's own local replies to gRPC requests
//! carry it). A response without any `grpc-status` gets the status gRPC clients derive
//! from the HTTP status code (`404` → `12` UNIMPLEMENTED, `503` → `14` UNAVAILABLE, ...).

/// Status label values `0`..=`16`, so a status costs no allocation.
const CODES: [&str; 17] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
];

/// gRPC status `UNKNOWN`.
const UNKNOWN: u8 = 2;

/// Whether a request `content-type` announces gRPC: `application/grpc`, optionally followed
/// by `+<codec>` or parameters (`application/grpc+proto`). gRPC-Web is not gRPC here.
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    const PREFIX: &[u8] = b"application/grpc";
    let Some((head, rest)) = value.split_at_checked(PREFIX.len()) else {
        return false;
    };
    head.eq_ignore_ascii_case(PREFIX) && matches!(rest.first(), None | Some(b'+' | b';'))
}

/// The status a `grpc-status` value carries: `0`..=`16`; anything else (not a number, or a
/// code gRPC does not define) is `UNKNOWN`, as gRPC clients treat it.
pub fn parse_status(value: &[u8]) -> u8 {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 2 || !digits.iter().all(u8::is_ascii_digit) {
        return UNKNOWN;
    }
    let code = digits.iter().fold(0u8, |acc, d| {
        acc.saturating_mul(10).saturating_add(d - b'0')
    });
    if usize::from(code) < CODES.len() {
        code
    } else {
        UNKNOWN
    }
}

/// The status gRPC clients derive from an HTTP status when the response has no
/// `grpc-status` (the gRPC HTTP-to-gRPC status mapping).
pub fn status_from_http(code: u16) -> u8 {
    match code {
        400 => 13,                   // INTERNAL
        401 => 16,                   // UNAUTHENTICATED
        403 => 7,                    // PERMISSION_DENIED
        404 => 12,                   // UNIMPLEMENTED
        429 | 502 | 503 | 504 => 14, // UNAVAILABLE
        _ => UNKNOWN,
    }
}

/// The label value of a status (`"0"`..=`"16"`).
pub fn status_label(code: u8) -> &'static str {
    CODES.get(usize::from(code)).copied().unwrap_or("2")
}

/// The status of a gRPC exchange: the trailer's, else the response headers', else derived
/// from the HTTP status; `None` when no response was sent at all (`http_status` 0).
pub fn response_status(
    trailer: Option<&[u8]>,
    header: Option<&[u8]>,
    http_status: u16,
) -> Option<u8> {
    match (trailer, header) {
        (Some(value), _) | (None, Some(value)) => Some(parse_status(value)),
        (None, None) if http_status == 0 => None,
        (None, None) => Some(status_from_http(http_status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        for yes in [
            &b"application/grpc"[..],
            b"application/grpc+proto",
            b"Application/GRPC+json",
            b"application/grpc;charset=utf-8",
        ] {
            assert!(
                is_grpc_content_type(yes),
                "{}",
                String::from_utf8_lossy(yes)
            );
        }
        for no in [
            &b"application/grpc-web"[..],
            b"application/grpc-web+proto",
            b"application/json",
            b"application/grp",
            b"",
        ] {
            assert!(!is_grpc_content_type(no), "{}", String::from_utf8_lossy(no));
        }
    }

    #[test]
    fn statuses_parse_or_become_unknown() {
        assert_eq!(parse_status(b"0"), 0);
        assert_eq!(parse_status(b"5"), 5);
        assert_eq!(parse_status(b" 14 "), 14);
        assert_eq!(parse_status(b"16"), 16);
        for bad in [&b"17"[..], b"99", b"100", b"-1", b"ok", b"", b"1a", b"\xff"] {
            assert_eq!(parse_status(bad), 2, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn http_statuses_map_as_grpc_clients_do() {
        assert_eq!(status_from_http(400), 13);
        assert_eq!(status_from_http(401), 16);
        assert_eq!(status_from_http(403), 7);
        assert_eq!(status_from_http(404), 12);
        for unavailable in [429, 502, 503, 504] {
            assert_eq!(status_from_http(unavailable), 14);
        }
        assert_eq!(status_from_http(200), 2);
        assert_eq!(status_from_http(500), 2);
    }

    #[test]
    fn trailer_wins_then_header_then_http_status() {
        assert_eq!(response_status(Some(b"7"), Some(b"0"), 200), Some(7));
        assert_eq!(response_status(None, Some(b"5"), 200), Some(5));
        assert_eq!(response_status(None, None, 503), Some(14));
        assert_eq!(response_status(None, None, 0), None);
    }

    #[test]
    fn labels() {
        assert_eq!(status_label(0), "0");
        assert_eq!(status_label(16), "16");
        assert_eq!(status_label(200), "2");
    }
}
