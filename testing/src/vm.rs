//! The modules a test thread runs, each on the backend its host selected, and the callbacks
//! the host makes into them.

use crate::{Backend, Exports, Module};
use std::cell::RefCell;

/// A callback of the proxy-wasm ABI the emulator makes, with its arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Callback {
    ContextCreate { id: u32, root: u32 },
    VmStart { root: u32, size: usize },
    Configure { root: u32, size: usize },
    RequestHeaders { id: u32, count: usize, end: bool },
    ResponseHeaders { id: u32, count: usize, end: bool },
    ResponseTrailers { id: u32, count: usize },
    Log { id: u32 },
    Done { id: u32 },
    Delete { id: u32 },
}

impl Callback {
    /// The module's export that serves it.
    pub(crate) fn export(self) -> &'static str {
        match self {
            Callback::ContextCreate { .. } => "proxy_on_context_create",
            Callback::VmStart { .. } => "proxy_on_vm_start",
            Callback::Configure { .. } => "proxy_on_configure",
            Callback::RequestHeaders { .. } => "proxy_on_request_headers",
            Callback::ResponseHeaders { .. } => "proxy_on_response_headers",
            Callback::ResponseTrailers { .. } => "proxy_on_response_trailers",
            Callback::Log { .. } => "proxy_on_log",
            Callback::Done { .. } => "proxy_on_done",
            Callback::Delete { .. } => "proxy_on_delete",
        }
    }

    /// The arguments as the module's export takes them (32-bit words on wasm32).
    #[cfg_attr(not(feature = "dist"), allow(dead_code))]
    pub(crate) fn arguments(self) -> Vec<u32> {
        let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        match self {
            Callback::ContextCreate { id, root } => vec![id, root],
            Callback::VmStart { root, size: n } | Callback::Configure { root, size: n } => {
                vec![root, size(n)]
            }
            Callback::RequestHeaders { id, count, end }
            | Callback::ResponseHeaders { id, count, end } => {
                vec![id, size(count), u32::from(end)]
            }
            Callback::ResponseTrailers { id, count } => vec![id, size(count)],
            Callback::Log { id } | Callback::Done { id } | Callback::Delete { id } => vec![id],
        }
    }
}

/// The module loaded on this thread.
enum Vm {
    /// Linked into the test binary; the exports its build keeps.
    Native(Exports),
    /// The built `.wasm`, instantiated by wasmtime.
    #[cfg(feature = "dist")]
    Wasm(Box<crate::wasm::Instance>),
}

thread_local! {
    /// The modules of this thread's hosts, by the host's root context id. Several hosts of
    /// a thread may be alive at once (a test comparing configurations): natively they share
    /// the thread's dispatcher, in the dist backend each has its own instance.
    static VMS: RefCell<Vec<(u32, Vm)>> = const { RefCell::new(Vec::new()) };
}

/// Loads `module` on `backend` for the host with root context `root`, and runs its entry
/// point.
pub(crate) fn load(root: u32, module: &Module, backend: Backend) {
    let loaded = match backend {
        Backend::Native => {
            std::hint::black_box(crate::native::host_functions());
            (module.register)();
            Vm::Native(module.exports)
        }
        #[cfg(feature = "dist")]
        Backend::Dist => Vm::Wasm(Box::new(crate::wasm::Instance::new(module.name))),
        #[cfg(not(feature = "dist"))]
        Backend::Dist => crate::fail(&format!(
            "{}: WASMESH_EMULATOR=dist, but wasmesh-testing was built without its `dist` feature",
            module.name
        )),
    };
    VMS.with(|vms| vms.borrow_mut().push((root, loaded)));
}

/// Drops the module of the host with root context `root`.
pub(crate) fn unload(root: u32) {
    let unloaded = VMS.with(|vms| {
        let mut vms = vms.borrow_mut();
        let at = vms.iter().position(|(id, _)| *id == root)?;
        Some(vms.remove(at))
    });
    // Dropping an instance runs wasmtime (see `wasm::inside`).
    #[cfg(feature = "dist")]
    crate::wasm::within(move || drop(unloaded));
    #[cfg(not(feature = "dist"))]
    let _ = unloaded;
}

/// Makes `callback` into the module of the host with root context `root` if the module
/// exports it, as Envoy does (it skips a callback whose export is missing): the module's
/// answer (an `Action` or `bool` as its code; 0 for none), or `None` without the export
/// (or without the host, dropped before its stream).
pub(crate) fn call(root: u32, callback: Callback) -> Option<u32> {
    VMS.with(|vms| {
        let mut vms = vms.borrow_mut();
        match vms
            .iter_mut()
            .find(|(id, _)| *id == root)
            .map(|(_, vm)| vm)?
        {
            Vm::Native(exports) => {
                let exported = exports.has(callback.export());
                // The dispatcher calls back into the host, never into this cell.
                drop(vms);
                exported.then(|| crate::native::call(callback))
            }
            #[cfg(feature = "dist")]
            Vm::Wasm(instance) => instance.call(callback),
        }
    })
}
