//! An in-memory [`wasmesh_sdk::Host`]: no proxy-wasm ABI, no emulator, for tests that
//! compile a configuration or drive a metric family or a callback's adapter with plain
//! values.

use std::cell::RefCell;
use std::rc::Rc;
use wasmesh_sdk::metrics::{write_stat_name, MetricKind};
use wasmesh_sdk::{
    AttributeBatch, AttributeValues, HeaderEdit, HeaderMap, Host, LocalReply, MetricChange,
    VerifiedCaller,
};

/// One stat a [`MemoryHost`] was asked to define, and what was recorded in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryStat {
    /// The full stat name, tags included.
    pub name: String,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// A counter's or gauge's value.
    pub value: u64,
    /// A histogram's samples, in order.
    pub samples: Vec<u64>,
}

/// A [`Host`] whose request headers and attributes a test sets, and which keeps the stats,
/// edits and replies the code under test makes. Time is 0 unless set; random bytes are a
/// fixed pattern.
#[derive(Debug, Default)]
pub struct MemoryHost {
    request: RefCell<Rc<HeaderMap>>,
    attributes: RefCell<Vec<(String, Rc<[u8]>)>>,
    caller: RefCell<Option<Rc<VerifiedCaller>>>,
    now_nanos: std::cell::Cell<u64>,
    stats: RefCell<Vec<MemoryStat>>,
    request_edits: RefCell<Vec<String>>,
    replies: RefCell<Vec<LocalReply>>,
}

impl MemoryHost {
    /// A host with no request, no attributes and no stats.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the request headers.
    pub fn with_request(self, headers: &[(&str, &str)]) -> Self {
        let pairs = headers
            .iter()
            .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
            .collect();
        *self.request.borrow_mut() = Rc::new(HeaderMap::new(pairs));
        self
    }

    /// Sets the raw bytes of the attribute at `path` (e.g. `["connection", "mtls"]`).
    pub fn with_attribute(self, path: &[&str], bytes: &[u8]) -> Self {
        self.attributes
            .borrow_mut()
            .push((path.join("."), Rc::from(bytes)));
        self
    }

    /// Sets the clock.
    pub fn set_now_nanos(&self, nanos: u64) {
        self.now_nanos.set(nanos);
    }

    /// Every stat defined so far.
    pub fn stats(&self) -> Vec<MemoryStat> {
        self.stats.borrow().clone()
    }

    /// The value of the counter `name` with these tags, if it was defined.
    pub fn counter(&self, name: &str, tags: &[(&str, &str)]) -> Option<u64> {
        let (names, values): (Vec<&str>, Vec<&str>) = tags.iter().copied().unzip();
        let mut stat = String::new();
        write_stat_name(&mut stat, name, &names, &values);
        let stats = self.stats.borrow();
        stats.iter().find(|s| s.name == stat).map(|s| s.value)
    }

    /// The request header edits made, as `set name value`, `add name value`, `remove name`.
    pub fn request_edits(&self) -> Vec<String> {
        self.request_edits.borrow().clone()
    }

    /// The local replies sent.
    pub fn replies(&self) -> Vec<LocalReply> {
        self.replies.borrow().clone()
    }
}

fn describe(edit: &HeaderEdit<'_>) -> String {
    match edit {
        HeaderEdit::Set(name, value) => format!("set {name} {}", String::from_utf8_lossy(value)),
        HeaderEdit::Add(name, value) => format!("add {name} {}", String::from_utf8_lossy(value)),
        HeaderEdit::Remove(name) => format!("remove {name}"),
    }
}

impl Host for MemoryHost {
    fn request_headers(&self) -> Rc<HeaderMap> {
        Rc::clone(&self.request.borrow())
    }

    fn response_headers(&self) -> HeaderMap {
        HeaderMap::default()
    }

    fn response_trailers(&self) -> HeaderMap {
        HeaderMap::default()
    }

    fn attribute(&self, path: &[&str]) -> Option<Rc<[u8]>> {
        let key = path.join(".");
        let attributes = self.attributes.borrow();
        attributes
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| Rc::clone(value))
    }

    fn attributes(&self, _: &AttributeBatch) -> AttributeValues {
        AttributeValues::default()
    }

    fn verified_caller(&self) -> Option<Rc<VerifiedCaller>> {
        self.caller.borrow().clone()
    }

    fn now_nanos(&self) -> u64 {
        self.now_nanos.get()
    }

    fn random_bytes(&self, out: &mut [u8]) {
        for (index, byte) in out.iter_mut().enumerate() {
            *byte = (index as u8).wrapping_mul(37).wrapping_add(11);
        }
    }

    fn define_metric(&self, kind: MetricKind, name: &str) -> Option<u32> {
        let mut stats = self.stats.borrow_mut();
        let at = match stats.iter().position(|s| s.name == name) {
            Some(at) => at,
            None => {
                stats.push(MemoryStat {
                    name: name.to_owned(),
                    kind,
                    value: 0,
                    samples: Vec::new(),
                });
                stats.len() - 1
            }
        };
        u32::try_from(at).ok()
    }

    fn change_metric(&self, id: u32, change: MetricChange) {
        let mut stats = self.stats.borrow_mut();
        if let Some(stat) = stats.get_mut(id as usize) {
            match change {
                MetricChange::Add(n) => stat.value = stat.value.saturating_add_signed(n),
                MetricChange::Record(v) if stat.kind == MetricKind::Histogram => {
                    stat.samples.push(v)
                }
                MetricChange::Record(v) => stat.value = v,
            }
        }
    }

    fn metric_value(&self, id: u32) -> Option<u64> {
        self.stats.borrow().get(id as usize).map(|s| s.value)
    }

    fn edit_request(&self, edit: &HeaderEdit<'_>) {
        self.request_edits.borrow_mut().push(describe(edit));
    }

    fn edit_response(&self, _: &HeaderEdit<'_>) {}

    fn set_verified_caller(&self, caller: VerifiedCaller) {
        *self.caller.borrow_mut() = Some(Rc::new(caller));
    }

    fn send_reply(&self, reply: &LocalReply) {
        self.replies.borrow_mut().push(reply.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmesh_sdk::metrics::Counter;

    #[test]
    fn keeps_what_it_is_given_and_what_is_recorded() {
        let host = MemoryHost::new()
            .with_request(&[(":path", "/a")])
            .with_attribute(&["connection", "mtls"], &[1]);
        assert!(host.mtls());
        assert_eq!(host.request_headers().first(":path"), Some(&b"/a"[..]));
        let counter = Counter::new("t_total", &["k"]);
        counter.increment(&host, &["v"]);
        counter.increment(&host, &["v"]);
        assert_eq!(host.counter("t_total", &[("k", "v")]), Some(2));
        host.edit_request(&HeaderEdit::Remove("x"));
        assert_eq!(host.request_edits(), ["remove x"]);
    }
}
