//! Which callbacks a filter implements.
//!
//! Envoy calls every callback a module exports, and each call crosses into the VM. The
//! `proxy-wasm` dispatcher exports all of them; a filter declares the few it implements in
//! [`crate::Filter::HOOKS`], [`crate::export_filter!`] records them in the module's
//! `wasmesh.hooks` custom section, and the build removes the other exports. The emulator
//! calls only the declared hooks, so a filter whose declaration misses a callback fails its
//! own tests rather than losing the callback in Envoy.

/// A set of HTTP callbacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks(u8);

impl Hooks {
    /// `on_request_headers`.
    pub const REQUEST_HEADERS: Hooks = Hooks(1);
    /// `on_response_headers`.
    pub const RESPONSE_HEADERS: Hooks = Hooks(2);
    /// `on_response_trailers`.
    pub const RESPONSE_TRAILERS: Hooks = Hooks(4);
    /// `on_log`.
    pub const LOG: Hooks = Hooks(8);
    /// Every callback the SDK offers (the default: nothing is pruned).
    pub const ALL: Hooks = Hooks(15);

    /// Both sets.
    pub const fn and(self, other: Hooks) -> Hooks {
        Hooks(self.0 | other.0)
    }

    /// Whether every hook of `other` is in the set.
    pub const fn contains(self, other: Hooks) -> bool {
        self.0 & other.0 == other.0
    }

    /// The set as one byte (the `wasmesh.hooks` custom section's content).
    pub const fn bits(self) -> u8 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn sets_combine() {
        let hooks = Hooks::REQUEST_HEADERS.and(Hooks::LOG);
        assert!(hooks.contains(Hooks::LOG));
        assert!(!hooks.contains(Hooks::RESPONSE_HEADERS));
        assert!(Hooks::ALL.contains(hooks));
        assert_eq!(hooks.bits(), 9);
    }
}
