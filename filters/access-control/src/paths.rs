//! Path patterns: exact, segment-aware prefix, and templates with `{*}` and `{**}`.
//!
//! Patterns are written in the canonical form produced by `wasmesh_path::canonicalize`
//! (the part before `?`): one that is not could never match and is refused when the
//! configuration is compiled. Every kind compiles to the same segment list: an exact
//! path is its literal segments, a prefix its literal segments followed by `{**}`.
//!
//! An allow rule's pattern ([`PathPattern::compile`]) matches the canonical path
//! exactly, segment by segment, a segment's `;parameters` included: `/admin;x` is not
//! `/admin` to it. A deny or log rule's pattern ([`PathPattern::compile_lenient`])
//! matches the lenient reading of the path ([`crate::lenient`]), where parameters,
//! escapes and case may be ignored, so that it holds for every application behind the
//! sidecar however loosely it reads paths. Patterns hold no `;` themselves.

use crate::config::PathPatternConfig;
use crate::lenient::Lenience;
use wasmesh_path::{canonicalize, PathOptions};

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Box<[Segment]>,
    case_insensitive: bool,
    /// Matched against the lenient reading of the path, whose empty segments (a
    /// trailing `/`) do not count.
    lenient: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<[u8]>),
    /// `{*}`: exactly one segment with a non-empty name.
    One,
    /// `{**}`, last only: zero or more segments.
    Rest,
}

impl PathPattern {
    /// Compiles an allow rule's pattern, matched exactly (ignoring ASCII case if
    /// `case_insensitive`); the error says what is wrong with it.
    pub fn compile(
        config: &PathPatternConfig,
        options: &PathOptions,
        case_insensitive: bool,
    ) -> Result<Self, String> {
        Ok(Self {
            segments: compile_segments(config, options)?,
            case_insensitive,
            lenient: false,
        })
    }

    /// Compiles a deny or log rule's pattern, matched against the lenient reading of
    /// the path ([`Lenience::path`]): its literals are read the same way.
    pub fn compile_lenient(
        config: &PathPatternConfig,
        options: &PathOptions,
        case_insensitive: bool,
        lenience: &Lenience,
    ) -> Result<Self, String> {
        let mut segments = Vec::new();
        for segment in compile_segments(config, options)?.into_vec() {
            match segment {
                Segment::Literal(literal) => {
                    let text = std::str::from_utf8(&literal).unwrap_or_default();
                    let read = lenience.literal(text).map_err(|_| {
                        format!(
                            "segment `{text}` has no single reading (a separator or a dot \
                             segment to lenient applications), so deny rules cannot name it"
                        )
                    })?;
                    segments.extend(read.into_iter().map(Segment::Literal));
                }
                other => segments.push(other),
            }
        }
        Ok(Self {
            segments: segments.into_boxed_slice(),
            case_insensitive: case_insensitive || lenience.ignore_case,
            lenient: true,
        })
    }

    /// Whether the path matches: the canonical path for a pattern from
    /// [`compile`](Self::compile), its lenient reading for one from
    /// [`compile_lenient`](Self::compile_lenient).
    pub fn matches(&self, path: &[u8]) -> bool {
        let Some(rest) = path.strip_prefix(b"/") else {
            return false;
        };
        let lenient = self.lenient;
        let mut segments = rest
            .split(|byte| *byte == b'/')
            .filter(|segment| !(lenient && segment.is_empty()));
        for pattern in self.segments.iter() {
            match pattern {
                Segment::Rest => return true,
                Segment::One => match segments.next() {
                    Some(segment) if !segment_name(segment).is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => match segments.next() {
                    Some(segment) if self.equal(segment, literal) => {}
                    _ => return false,
                },
            }
        }
        segments.next().is_none()
    }

    fn equal(&self, segment: &[u8], literal: &[u8]) -> bool {
        if self.case_insensitive {
            segment.eq_ignore_ascii_case(literal)
        } else {
            segment == literal
        }
    }
}

fn compile_segments(
    config: &PathPatternConfig,
    options: &PathOptions,
) -> Result<Box<[Segment]>, String> {
    match config {
        PathPatternConfig::Exact(path) => literal_segments(path, options, false),
        PathPatternConfig::Prefix(path) => literal_segments(path, options, true),
        PathPatternConfig::Template(template) => compile_template(template, options),
    }
}

/// A segment without its parameters (everything from the first `;`).
fn segment_name(segment: &[u8]) -> &[u8] {
    match segment.iter().position(|byte| *byte == b';') {
        Some(at) => segment.get(..at).unwrap_or(segment),
        None => segment,
    }
}

/// The segments of an exact or prefix path. A prefix ends with `{**}`, and its trailing
/// `/` is dropped first, so `/api` and `/api/` both cover `/api` and everything below.
fn literal_segments(
    path: &str,
    options: &PathOptions,
    prefix: bool,
) -> Result<Box<[Segment]>, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("`{path}` must start with `/`"));
    };
    if path.contains(['*', '{', '}']) {
        return Err(format!(
            "`{path}` is matched literally; use {{\"template\": ...}} for `{{*}}` and `{{**}}`, \
             or {{\"prefix\": ...}} for everything below a path"
        ));
    }
    check_canonical(path, path, options)?;
    let mut segments: Vec<Segment> = Vec::new();
    if prefix {
        let trimmed = rest.strip_suffix('/').unwrap_or(rest);
        if !trimmed.is_empty() {
            segments.extend(
                trimmed
                    .split('/')
                    .map(|s| Segment::Literal(s.as_bytes().into())),
            );
        }
        segments.push(Segment::Rest);
    } else {
        segments.extend(
            rest.split('/')
                .map(|s| Segment::Literal(s.as_bytes().into())),
        );
    }
    Ok(segments.into_boxed_slice())
}

/// `sample` (the pattern with wildcards replaced by a plain segment) must be its own
/// canonical form and hold no parameters; `shown` is the pattern as written.
fn check_canonical(shown: &str, sample: &str, options: &PathOptions) -> Result<(), String> {
    if sample.contains(['?', '#']) {
        return Err(format!(
            "`{shown}` contains `?` or `#`; patterns match the path only"
        ));
    }
    if sample.contains(';') {
        return Err(format!(
            "`{shown}` contains `;`: patterns name no segment parameters (deny rules ignore \
             them; allow rules match segments without them, or strip them first with \
             `path.canonicalization.path_params`)"
        ));
    }
    match canonicalize(sample.as_bytes(), options) {
        Ok(canonical) if canonical.as_str() == sample => Ok(()),
        Ok(canonical) => Err(format!(
            "`{shown}` is not canonical (it would be requested as `{}`), so it could never match",
            canonical.as_str()
        )),
        Err(rejection) => Err(format!(
            "`{shown}` is not a valid request path: {rejection}"
        )),
    }
}

fn compile_template(template: &str, options: &PathOptions) -> Result<Box<[Segment]>, String> {
    let Some(rest) = template.strip_prefix('/') else {
        return Err(format!("`{template}` must start with `/`"));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    let mut sample = String::with_capacity(template.len());
    for (index, part) in parts.iter().enumerate() {
        let last = index + 1 == parts.len();
        sample.push('/');
        let segment = match *part {
            "{*}" => Segment::One,
            "{**}" if last => Segment::Rest,
            "{**}" => {
                return Err(format!(
                    "`{template}`: `{{**}}` is only allowed as the last segment"
                ))
            }
            literal if literal.contains(['{', '}', '*']) => {
                return Err(format!(
                    "`{template}`: segment `{literal}` is neither literal text nor exactly `{{*}}` or `{{**}}`"
                ))
            }
            "" if !last => return Err(format!("`{template}` has an empty segment")),
            literal => Segment::Literal(literal.as_bytes().into()),
        };
        match segment {
            Segment::Literal(_) => sample.push_str(part),
            Segment::One | Segment::Rest => sample.push('x'),
        }
        segments.push(segment);
    }
    check_canonical(template, &sample, options)?;
    Ok(segments.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern whose `matches` takes text.
    struct Text(PathPattern);

    impl Text {
        fn matches(&self, path: &str) -> bool {
            self.0.matches(path.as_bytes())
        }
    }

    fn pattern(config: PathPatternConfig) -> Text {
        Text(PathPattern::compile(&config, &PathOptions::default(), false).unwrap())
    }

    fn lenient(config: PathPatternConfig, lenience: Lenience) -> Text {
        Text(
            PathPattern::compile_lenient(&config, &PathOptions::default(), false, &lenience)
                .unwrap(),
        )
    }

    fn exact(p: &str) -> Text {
        pattern(PathPatternConfig::Exact(p.into()))
    }

    fn prefix(p: &str) -> Text {
        pattern(PathPatternConfig::Prefix(p.into()))
    }

    fn template(p: &str) -> Text {
        pattern(PathPatternConfig::Template(p.into()))
    }

    fn refused(config: PathPatternConfig) -> String {
        PathPattern::compile(&config, &PathOptions::default(), false).unwrap_err()
    }

    #[test]
    fn exact_matches_the_whole_path_only() {
        let p = exact("/healthz");
        assert!(p.matches("/healthz"));
        for other in [
            "/healthz/",
            "/healthz/x",
            "/health",
            "/HEALTHZ",
            "/healthzz",
        ] {
            assert!(!p.matches(other), "{other}");
        }
    }

    #[test]
    fn prefix_is_segment_aware() {
        for written in ["/api", "/api/"] {
            let p = prefix(written);
            for inside in ["/api", "/api/", "/api/x", "/api/x/y"] {
                assert!(p.matches(inside), "{written} {inside}");
            }
            for outside in ["/apix", "/ap", "/", "/x/api", "/API"] {
                assert!(!p.matches(outside), "{written} {outside}");
            }
        }
        let root = prefix("/");
        assert!(root.matches("/") && root.matches("/anything/at/all"));
        assert!(!root.matches("*"));
    }

    #[test]
    fn templates_match_segment_by_segment() {
        let p = template("/users/{*}/orders/{**}");
        for inside in [
            "/users/1/orders",
            "/users/1/orders/",
            "/users/1/orders/2",
            "/users/a;b/orders/2/items",
        ] {
            assert!(p.matches(inside), "{inside}");
        }
        for outside in [
            "/users/orders",
            "/users//orders",
            "/users/1/2/orders",
            "/users/1/ordersx",
            "/users",
            "/x/users/1/orders",
        ] {
            assert!(!p.matches(outside), "{outside}");
        }
        let one = template("/users/{*}");
        assert!(one.matches("/users/7"));
        assert!(!one.matches("/users/7/"));
        assert!(!one.matches("/users/"));
        assert!(template("/{**}").matches("/"));
        assert!(template("/").matches("/"));
        assert!(!template("/").matches("/a"));
    }

    #[test]
    fn allow_patterns_match_parameters_exactly() {
        let admin = prefix("/admin");
        for outside in ["/admin;x=1", "/admin;/users", "/;admin", "/admin%3Bx"] {
            assert!(!admin.matches(outside), "{outside}");
        }
        assert!(admin.matches("/admin/users;x"));
        assert!(!exact("/healthz").matches("/healthz;v=1"));
        let t = template("/users/{*}/orders");
        assert!(t.matches("/users/7;x/orders"));
        assert!(!t.matches("/users/7/orders;y"));
        assert!(!t.matches("/users/;x/orders"));
        assert!(refused(PathPatternConfig::Prefix("/admin;x".into())).contains("`;`"));
        assert!(refused(PathPatternConfig::Template("/a;b/{*}".into())).contains("`;`"));
    }

    #[test]
    fn deny_patterns_match_the_lenient_reading() {
        let lenience = Lenience::default();
        let admin = lenient(PathPatternConfig::Prefix("/admin".into()), lenience);
        let read = |path: &str| {
            let reading = lenience.path(path.as_bytes()).unwrap().into_owned();
            admin.0.matches(&reading)
        };
        for inside in [
            "/admin",
            "/admin/",
            "/ADMIN",
            "/Admin/users",
            "/admin;x=1",
            "/admin;/users",
            "/admin%3Bx/users",
            "/adm%C4%B1n",
            "/%EF%BD%81dmin",
        ] {
            assert!(read(inside), "{inside}");
        }
        for outside in ["/admin2;x", "/administrator", "/x/admin", "/.admin"] {
            assert!(!read(outside), "{outside}");
        }
        assert!(lenience.path(b"/;admin").is_err());
        let exact = lenient(PathPatternConfig::Exact("/healthz/".into()), lenience);
        assert!(exact.matches("/healthz") && exact.matches("/HEALTHZ/"));
        let strict = Lenience {
            ignore_case: false,
            ignore_path_params: false,
            lenient_hosts: false,
        };
        let exact_admin = lenient(PathPatternConfig::Prefix("/admin".into()), strict);
        assert!(!exact_admin.matches("/ADMIN"));
        assert!(!exact_admin.0.matches(&strict.path(b"/admin;x").unwrap()));
        assert!(exact_admin.0.matches(&strict.path(b"/%61dmin/x").unwrap()));
    }

    #[test]
    fn case_insensitive_matching_is_an_option() {
        let options = PathOptions::default();
        let ci = |config| Text(PathPattern::compile(&config, &options, true).unwrap());
        assert!(ci(PathPatternConfig::Prefix("/admin".into())).matches("/ADMIN/users"));
        assert!(ci(PathPatternConfig::Exact("/admin".into())).matches("/Admin"));
        assert!(ci(PathPatternConfig::Template("/admin/{*}".into())).matches("/aDmIn/x"));
        assert!(!ci(PathPatternConfig::Prefix("/admin".into())).matches("/ADMINX"));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(refused(PathPatternConfig::Exact("api".into())).contains("start with"));
        assert!(refused(PathPatternConfig::Exact("/api/*".into())).contains("template"));
        assert!(refused(PathPatternConfig::Prefix("/a/../b".into())).contains("not canonical"));
        assert!(refused(PathPatternConfig::Prefix("/a//b".into())).contains("not canonical"));
        assert!(refused(PathPatternConfig::Exact("/%61".into())).contains("not canonical"));
        assert!(refused(PathPatternConfig::Exact("/a?b".into())).contains("path only"));
        assert!(refused(PathPatternConfig::Exact("/a%2Fb".into())).contains("not a valid"));
        for bad in [
            "/users/{id}",
            "/users/{*",
            "/users/a{*}",
            "/users/**",
            "/{**}/x",
            "/a//{*}",
            "users/{*}",
            "/a/{*}/../b",
        ] {
            assert!(
                PathPattern::compile(
                    &PathPatternConfig::Template(bad.into()),
                    &PathOptions::default(),
                    false
                )
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn patterns_follow_the_configured_canonical_form() {
        let lowercase = PathOptions {
            lowercase: true,
            ..PathOptions::default()
        };
        let upper = PathPatternConfig::Exact("/Admin".into());
        let error = PathPattern::compile(&upper, &lowercase, false).unwrap_err();
        assert!(error.contains("`/admin`"), "{error}");
    }
}
