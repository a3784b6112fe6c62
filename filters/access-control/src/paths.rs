//! Path patterns: exact, segment-aware prefix, and templates with `{*}` and `{**}`.
//!
//! Patterns are matched against the canonical path produced by
//! `wasmesh_sdk::path::canonicalize` (the part before `?`), so a pattern must itself be
//! canonical under the configured options: one that is not could never match and is
//! refused when the configuration is compiled.
//!
//! Matching is segment by segment, and a segment's `;parameters` are not part of its
//! name: `/admin;jsessionid=1` is `/admin` to every pattern, as it is to the many
//! servers (Tomcat, Jetty, Spring) that drop them. Patterns hold no `;` themselves.
//! Every kind compiles to the same segment list: an exact path is its literal
//! segments, a prefix its literal segments followed by `{**}`.

use crate::config::PathPatternConfig;
use wasmesh_sdk::path::{canonicalize, PathOptions};

/// A compiled path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Box<[Segment]>,
    case_insensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(Box<str>),
    /// `{*}`: exactly one segment with a non-empty name.
    One,
    /// `{**}`, last only: zero or more segments.
    Rest,
}

impl PathPattern {
    /// Compiles a pattern; the error says what is wrong with it.
    pub fn compile(
        config: &PathPatternConfig,
        options: &PathOptions,
        case_insensitive: bool,
    ) -> Result<Self, String> {
        let segments = match config {
            PathPatternConfig::Exact(path) => literal_segments(path, options, false)?,
            PathPatternConfig::Prefix(path) => literal_segments(path, options, true)?,
            PathPatternConfig::Template(template) => compile_template(template, options)?,
        };
        Ok(Self {
            segments,
            case_insensitive,
        })
    }

    /// Whether the canonical `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut names = rest
            .as_bytes()
            .split(|byte| *byte == b'/')
            .map(segment_name);
        for segment in self.segments.iter() {
            match segment {
                Segment::Rest => return true,
                Segment::One => match names.next() {
                    Some(name) if !name.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => match names.next() {
                    Some(name) if self.equal(name, literal) => {}
                    _ => return false,
                },
            }
        }
        names.next().is_none()
    }

    fn equal(&self, name: &[u8], literal: &str) -> bool {
        if self.case_insensitive {
            name.eq_ignore_ascii_case(literal.as_bytes())
        } else {
            name == literal.as_bytes()
        }
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
            segments.extend(trimmed.split('/').map(|s| Segment::Literal(s.into())));
        }
        segments.push(Segment::Rest);
    } else {
        segments.extend(rest.split('/').map(|s| Segment::Literal(s.into())));
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
            "`{shown}` contains `;`: segment parameters are ignored when matching, so \
             patterns are written without them"
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
            literal => Segment::Literal(literal.into()),
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

    fn pattern(config: PathPatternConfig) -> PathPattern {
        PathPattern::compile(&config, &PathOptions::default(), false).unwrap()
    }

    fn exact(p: &str) -> PathPattern {
        pattern(PathPatternConfig::Exact(p.into()))
    }

    fn prefix(p: &str) -> PathPattern {
        pattern(PathPatternConfig::Prefix(p.into()))
    }

    fn template(p: &str) -> PathPattern {
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
    fn segment_parameters_are_not_part_of_the_name() {
        let admin = prefix("/admin");
        for inside in ["/admin;x=1", "/admin;/users", "/admin;jsessionid=9/x;y"] {
            assert!(admin.matches(inside), "{inside}");
        }
        assert!(!admin.matches("/admin2;x"));
        assert!(!admin.matches("/;admin"));
        assert!(exact("/healthz").matches("/healthz;v=1"));
        let t = template("/users/{*}/orders");
        assert!(t.matches("/users/7;x/orders;y"));
        assert!(!t.matches("/users/;x/orders"));
        assert!(refused(PathPatternConfig::Prefix("/admin;x".into())).contains("`;`"));
        assert!(refused(PathPatternConfig::Template("/a;b/{*}".into())).contains("`;`"));
    }

    #[test]
    fn case_insensitive_matching_is_an_option() {
        let options = PathOptions::default();
        let ci = |config| PathPattern::compile(&config, &options, true).unwrap();
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
