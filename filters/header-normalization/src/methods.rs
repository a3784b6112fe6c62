//! The method allow-list and the treatment of lowercase methods.

use crate::config::LowercaseMethods;
use crate::names::is_token;
use crate::rules::Rejection;

/// The compiled allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Methods {
    allowed: Vec<Box<[u8]>>,
    lowercase: LowercaseMethods,
}

/// What the method rule says about a request's method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodVerdict {
    /// Allowed as sent.
    Allowed,
    /// Allowed once uppercased to this.
    Uppercase(Vec<u8>),
}

impl Methods {
    /// Compiles the list; the error is (index of the bad entry, reason), or `None` as
    /// index for an empty list.
    pub fn new(
        allowed: &[String],
        lowercase: LowercaseMethods,
    ) -> Result<Self, (Option<usize>, String)> {
        if allowed.is_empty() {
            return Err((None, "at least one method must be allowed".to_owned()));
        }
        for (index, method) in allowed.iter().enumerate() {
            if !is_token(method.as_bytes()) {
                return Err((
                    Some(index),
                    format!("`{method}` is not a method (an RFC 9110 token)"),
                ));
            }
        }
        Ok(Self {
            allowed: allowed
                .iter()
                .map(|method| method.as_bytes().into())
                .collect(),
            lowercase,
        })
    }

    /// The allowed methods, as configured.
    pub fn allowed(&self) -> impl Iterator<Item = &[u8]> {
        self.allowed.iter().map(|method| &**method)
    }

    /// The treatment of lowercase methods.
    pub fn lowercase(&self) -> LowercaseMethods {
        self.lowercase
    }

    /// Checks a method. Methods are compared case-sensitively (RFC 9110 §9.1); a method
    /// with lowercase letters that is not listed as sent, but whose uppercase form is, is
    /// refused as `lowercase_method` or uppercased, as configured.
    pub fn check(&self, method: &[u8]) -> Result<MethodVerdict, Rejection> {
        if self.allowed.iter().any(|allowed| **allowed == *method) {
            return Ok(MethodVerdict::Allowed);
        }
        let uppercase_is_allowed = method.iter().any(u8::is_ascii_lowercase)
            && self
                .allowed
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(method) && is_uppercase(allowed));
        if !uppercase_is_allowed {
            return Err(Rejection::MethodNotAllowed);
        }
        match self.lowercase {
            LowercaseMethods::Reject => Err(Rejection::LowercaseMethod),
            LowercaseMethods::Uppercase => {
                Ok(MethodVerdict::Uppercase(method.to_ascii_uppercase()))
            }
        }
    }
}

fn is_uppercase(method: &[u8]) -> bool {
    !method.iter().any(u8::is_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::config::DEFAULT_METHODS;

    fn methods(lowercase: LowercaseMethods) -> Methods {
        let list: Vec<String> = DEFAULT_METHODS.iter().map(|m| (*m).to_owned()).collect();
        Methods::new(&list, lowercase).unwrap()
    }

    #[test]
    fn listed_methods_pass_others_do_not() {
        let methods = methods(LowercaseMethods::Reject);
        for method in DEFAULT_METHODS {
            assert_eq!(methods.check(method.as_bytes()), Ok(MethodVerdict::Allowed));
        }
        for other in [&b"PROPFIND"[..], b"", b"GET ", b"G\0T", b"BREW"] {
            assert_eq!(methods.check(other), Err(Rejection::MethodNotAllowed));
        }
    }

    #[test]
    fn lowercase_methods_are_refused_or_uppercased() {
        let reject = methods(LowercaseMethods::Reject);
        assert_eq!(reject.check(b"get"), Err(Rejection::LowercaseMethod));
        assert_eq!(reject.check(b"Patch"), Err(Rejection::LowercaseMethod));
        assert_eq!(reject.check(b"brew"), Err(Rejection::MethodNotAllowed));
        let uppercase = methods(LowercaseMethods::Uppercase);
        assert_eq!(
            uppercase.check(b"pAtCh"),
            Ok(MethodVerdict::Uppercase(b"PATCH".to_vec()))
        );
    }

    #[test]
    fn a_configured_lowercase_method_is_matched_as_written() {
        let list = vec!["GET".to_owned(), "purge".to_owned()];
        let methods = Methods::new(&list, LowercaseMethods::Reject).unwrap();
        assert_eq!(methods.check(b"purge"), Ok(MethodVerdict::Allowed));
        assert_eq!(methods.check(b"PURGE"), Err(Rejection::MethodNotAllowed));
        assert_eq!(methods.check(b"Purge"), Err(Rejection::MethodNotAllowed));
    }

    #[test]
    fn bad_lists_are_refused() {
        assert_eq!(
            Methods::new(&[], LowercaseMethods::Reject).unwrap_err().0,
            None
        );
        let list = vec!["GET".to_owned(), "NOT A METHOD".to_owned()];
        assert_eq!(
            Methods::new(&list, LowercaseMethods::Reject).unwrap_err().0,
            Some(1)
        );
    }
}
