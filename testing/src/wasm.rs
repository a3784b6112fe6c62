//! The dist backend: a built module (`dist/<name>.wasm`) under wasmtime, with the
//! `proxy_*` host functions as its imports over the module's linear memory.
//!
//! Each module is compiled once (the first test process that loads it keeps the compiled
//! artifact in the target directory, the others load it) and instantiated afresh for every
//! [`crate::Host`]. Buffers handed to the module are allocated by its own
//! `proxy_on_memory_allocate`, as Envoy does, so the module frees them as it frees
//! Envoy's. The WASI functions the modules import (`wasm32-wasip1`: output, environment,
//! random bytes, clock, exit) are implemented here as a host without files would.

use crate::calls::{self, Give};
use crate::vm::Callback;
use proxy_wasm::types::Status;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};
use wasmtime::{
    Caller, Config, Engine, Instance as WasmInstance, InstancePre, Linker, Memory, Module,
    OptLevel, Store, TypedFunc, Val,
};

type Result<T> = wasmtime::Result<T>;

thread_local! {
    /// How deep this thread is in wasmtime (compiling, instantiating, calling, dropping).
    static INSIDE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside wasmtime. wasmtime logs through the `log` crate, whose
/// logger in a test process is the SDK's (installed by any native host), writing to the
/// native `proxy_log`: such lines are not the module's, which logs through its import.
/// (A thread being torn down counts as inside: its host state may be gone.)
pub(crate) fn inside() -> bool {
    INSIDE.try_with(|depth| depth.get() > 0).unwrap_or(true)
}

/// Runs `f` inside wasmtime (see [`inside`]).
pub(crate) fn within<R>(f: impl FnOnce() -> R) -> R {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            INSIDE.with(|depth| depth.set(depth.get().saturating_sub(1)));
        }
    }
    INSIDE.with(|depth| depth.set(depth.get() + 1));
    let _leave = Leave;
    f()
}

/// What the host functions reach of the instance that calls them.
#[derive(Default)]
struct Data {
    memory: Option<Memory>,
    allocate: Option<TypedFunc<i32, i32>>,
}

/// One instantiated module and its store.
pub(crate) struct Instance {
    name: &'static str,
    store: Store<Data>,
    instance: WasmInstance,
    /// The module trapped: as in Envoy, the VM gets no more callbacks.
    failed: bool,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        // Test modules run briefly: compiling them quickly matters more than their speed.
        config.cranelift_opt_level(OptLevel::None);
        Engine::new(&config)
            .unwrap_or_else(|error| crate::fail(&format!("wasmtime: no engine: {error}")))
    })
}

/// The module at `path`, read and linked once per process, ready to instantiate.
fn prepared(name: &str, path: PathBuf) -> InstancePre<Data> {
    static PREPARED: OnceLock<Mutex<HashMap<PathBuf, InstancePre<Data>>>> = OnceLock::new();
    let cache = PREPARED.get_or_init(Mutex::default);
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(prepared) = cache.get(&path) {
        return prepared.clone();
    }
    let bytes = std::fs::read(&path).unwrap_or_else(|error| {
        crate::fail(&format!(
            "{name}: WASMESH_EMULATOR=dist runs {}, which cannot be read ({error}); \
             build it with `make build` (or point WASMESH_DIST at the modules)",
            path.display()
        ))
    });
    let module = compiled(name, &bytes).unwrap_or_else(|error| {
        crate::fail(&format!("{}: not a module: {error:?}", path.display()))
    });
    let prepared = linker(&module)
        .and_then(|linker| linker.instantiate_pre(&module))
        .unwrap_or_else(|error| {
            crate::fail(&format!("{}: cannot be linked: {error:?}", path.display()))
        });
    cache.insert(path, prepared.clone());
    prepared
}

/// Where compiled modules are kept between test processes: `wasmesh-testing/` beside the
/// test binaries' `deps/` (in the cargo target directory), if the binary is there.
fn artifact_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    if deps.file_name()? != "deps" {
        return None;
    }
    Some(deps.parent()?.join("wasmesh-testing"))
}

/// `bytes` compiled, by this process or an earlier one: every test binary of a run loads
/// the same few modules, and Cranelift built for tests (unoptimized) takes 2 to 5 s a
/// module. A compiled module is kept under [`artifact_dir`] by the hash of the module and
/// of the engine's settings; a module of the same name with another hash is removed then.
fn compiled(name: &str, bytes: &[u8]) -> Result<Module> {
    let Some(dir) = artifact_dir() else {
        return Module::new(engine(), bytes);
    };
    let mut hasher = DefaultHasher::new();
    engine().precompile_compatibility_hash().hash(&mut hasher);
    bytes.hash(&mut hasher);
    let file = dir.join(format!("{name}-{:016x}.cwasm", hasher.finish()));
    if file.is_file() {
        // SAFETY: the file was written below by `Module::serialize` for an engine with the
        // same settings (its name carries their hash); wasmtime also checks its header.
        if let Ok(module) = unsafe { Module::deserialize_file(engine(), &file) } {
            return Ok(module);
        }
    }
    let module = Module::new(engine(), bytes)?;
    // A cache that cannot be written costs time, not correctness.
    let _ = keep(&dir, name, &file, &module.serialize()?);
    Ok(module)
}

/// Writes `serialized` to `file` (through a temporary file, so that a concurrent test
/// process never reads half of it) and removes the other compiled versions of `name`.
fn keep(dir: &Path, name: &str, file: &Path, serialized: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let stale = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            n.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.len() == 22 && rest.ends_with(".cwasm"))
        });
        if stale && path != file {
            let _ = std::fs::remove_file(path);
        }
    }
    let partial = file.with_extension(format!("{}.partial", std::process::id()));
    std::fs::write(&partial, serialized)?;
    std::fs::rename(&partial, file)
}

impl Instance {
    /// Instantiates `dist/<name>.wasm` and runs its entry point (`_initialize`).
    pub(crate) fn new(name: &'static str) -> Self {
        within(|| Self::instantiate(name))
    }

    fn instantiate(name: &'static str) -> Self {
        let path = crate::dist_dir().join(format!("{name}.wasm"));
        let prepared = prepared(name, path);
        let mut store = Store::new(engine(), Data::default());
        let instance = prepared
            .instantiate(&mut store)
            .unwrap_or_else(|error| crate::fail(&format!("{name}.wasm: {error:?}")));
        let memory = instance.get_memory(&mut store, "memory");
        let allocate = instance
            .get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate")
            .ok();
        *store.data_mut() = Data { memory, allocate };
        let mut loaded = Self {
            name,
            store,
            instance,
            failed: false,
        };
        loaded.run("_initialize", &[]);
        loaded
    }

    /// Makes `callback` if the module exports it: its answer, or `None`.
    pub(crate) fn call(&mut self, callback: Callback) -> Option<u32> {
        let arguments: Vec<Val> = callback
            .arguments()
            .into_iter()
            .map(|word| Val::I32(word as i32))
            .collect();
        self.run(callback.export(), &arguments)
    }

    /// Calls export `export` if there is one: its first result as a word (0 for none), or
    /// `None` without the export or once the module trapped. A trap fails the test; the
    /// module is then failed, as Envoy leaves a VM that trapped, and gets no more calls.
    fn run(&mut self, export: &str, arguments: &[Val]) -> Option<u32> {
        if self.failed {
            return None;
        }
        within(|| self.run_export(export, arguments))
    }

    fn run_export(&mut self, export: &str, arguments: &[Val]) -> Option<u32> {
        let func = self.instance.get_func(&mut self.store, export)?;
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        if let Err(error) = func.call(&mut self.store, arguments, &mut results) {
            self.failed = true;
            crate::fail(&format!(
                "{}.wasm trapped in {export}: {error:?}",
                self.name
            ));
        }
        Some(match results.first() {
            Some(Val::I32(word)) => *word as u32,
            _ => 0,
        })
    }
}

// ---------------------------------------------------------------------------------------
// The module's memory

fn memory(caller: &Caller<'_, Data>) -> Result<Memory> {
    caller
        .data()
        .memory
        .ok_or_else(|| wasmtime::Error::msg("the module exports no memory"))
}

fn range(ptr: i32, len: i32) -> Result<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let end = start
        .checked_add(len as u32 as usize)
        .ok_or_else(|| wasmtime::Error::msg("a buffer past the end of memory"))?;
    Ok(start..end)
}

/// The `len` bytes at `ptr` of the module's memory, copied.
fn read(caller: &Caller<'_, Data>, ptr: i32, len: i32) -> Result<Vec<u8>> {
    let memory = memory(caller)?;
    let range = range(ptr, len)?;
    memory
        .data(caller)
        .get(range.clone())
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::format_err!("the module passed memory {range:?}, out of bounds"))
}

fn write(caller: &mut Caller<'_, Data>, ptr: i32, bytes: &[u8]) -> Result<()> {
    let memory = memory(caller)?;
    let len = i32::try_from(bytes.len())?;
    let range = range(ptr, len)?;
    memory
        .data_mut(caller)
        .get_mut(range.clone())
        .ok_or_else(|| wasmtime::format_err!("the module passed memory {range:?}, out of bounds"))?
        .copy_from_slice(bytes);
    Ok(())
}

fn write_u32(caller: &mut Caller<'_, Data>, ptr: i32, value: u32) -> Result<()> {
    write(caller, ptr, &value.to_le_bytes())
}

fn write_u64(caller: &mut Caller<'_, Data>, ptr: i32, value: u64) -> Result<()> {
    write(caller, ptr, &value.to_le_bytes())
}

/// Hands `bytes` to the module: allocated by its `proxy_on_memory_allocate`, the address
/// and length written at `data_ptr` and `size_ptr`.
fn give(caller: &mut Caller<'_, Data>, bytes: &[u8], data_ptr: i32, size_ptr: i32) -> Result<()> {
    let allocate =
        caller.data().allocate.clone().ok_or_else(|| {
            wasmtime::Error::msg("the module exports no proxy_on_memory_allocate")
        })?;
    let len = i32::try_from(bytes.len())?;
    let at = allocate.call(&mut *caller, len)?;
    write(caller, at, bytes)?;
    write_u32(caller, data_ptr, at as u32)?;
    write_u32(caller, size_ptr, len as u32)
}

fn give_result(
    caller: &mut Caller<'_, Data>,
    result: Give,
    data_ptr: i32,
    size_ptr: i32,
) -> Result<i32> {
    match result {
        Ok(bytes) => {
            give(caller, &bytes, data_ptr, size_ptr)?;
            Ok(Status::Ok as i32)
        }
        Err(status) => Ok(status as i32),
    }
}

// ---------------------------------------------------------------------------------------
// The imports

const OK: i32 = Status::Ok as i32;
const NOT_FOUND: i32 = Status::NotFound as i32;
const BAD_ARGUMENT: i32 = Status::BadArgument as i32;

/// WASI's `errno` values the stubs return.
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;

type C<'a> = Caller<'a, Data>;

/// The linker for `module`: every `proxy_*` host function and the WASI functions; any
/// other import the module has traps when called, naming itself.
fn linker(module: &Module) -> Result<Linker<Data>> {
    let mut linker = Linker::new(engine());
    proxy_functions(&mut linker)?;
    wasi_functions(&mut linker)?;
    linker.define_unknown_imports_as_traps(module)?;
    Ok(linker)
}

fn proxy_functions(linker: &mut Linker<Data>) -> Result<()> {
    const ENV: &str = "env";
    linker.func_wrap(
        ENV,
        "proxy_log",
        |c: C<'_>, level: i32, ptr: i32, len: i32| {
            Ok(calls::log(level as u32, &read(&c, ptr, len)?) as i32)
        },
    )?;
    linker.func_wrap(ENV, "proxy_get_log_level", |mut c: C<'_>, ret: i32| {
        write_u32(&mut c, ret, calls::log_level())?;
        Ok(OK)
    })?;
    linker.func_wrap(
        ENV,
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: i32| {
            write_u64(&mut c, ret, calls::current_time())?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(ENV, "proxy_set_tick_period_milliseconds", |_: i32| OK)?;
    linker.func_wrap(
        ENV,
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, kind: i32, start: i32, max: i32, data: i32, size: i32| {
            let result =
                calls::buffer_bytes(kind as u32, start as u32 as usize, max as u32 as usize);
            give_result(&mut c, result, data, size)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_set_buffer_bytes",
        |_: i32, _: i32, _: i32, _: i32, _: i32| NOT_FOUND,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, map: i32, data: i32, size: i32| {
            give_result(&mut c, calls::header_map_pairs(map as u32), data, size)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_set_header_map_pairs",
        |c: C<'_>, map: i32, ptr: i32, len: i32| {
            Ok(calls::set_header_map_pairs(map as u32, &read(&c, ptr, len)?) as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_get_header_map_value",
        |mut c: C<'_>, map: i32, key: i32, key_len: i32, data: i32, size: i32| {
            let key = read(&c, key, key_len)?;
            give_result(
                &mut c,
                calls::header_map_value(map as u32, &key),
                data,
                size,
            )
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_remove_header_map_value",
        |c: C<'_>, map: i32, key: i32, key_len: i32| {
            Ok(calls::remove_header_map_value(map as u32, &read(&c, key, key_len)?) as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_replace_header_map_value",
        |c: C<'_>, map: i32, key: i32, key_len: i32, value: i32, value_len: i32| {
            let (key, value) = (read(&c, key, key_len)?, read(&c, value, value_len)?);
            Ok(calls::replace_header_map_value(map as u32, &key, &value) as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_add_header_map_value",
        |c: C<'_>, map: i32, key: i32, key_len: i32, value: i32, value_len: i32| {
            let (key, value) = (read(&c, key, key_len)?, read(&c, value, value_len)?);
            Ok(calls::add_header_map_value(map as u32, &key, &value) as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_get_property",
        |mut c: C<'_>, path: i32, path_len: i32, data: i32, size: i32| {
            let path = read(&c, path, path_len)?;
            give_result(&mut c, calls::property(&path), data, size)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_set_property",
        |c: C<'_>, path: i32, path_len: i32, value: i32, value_len: i32| {
            let (path, value) = (read(&c, path, path_len)?, read(&c, value, value_len)?);
            Ok(calls::set_property(&path, &value) as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_get_shared_data",
        |_: i32, _: i32, _: i32, _: i32, _: i32| NOT_FOUND,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_set_shared_data",
        |_: i32, _: i32, _: i32, _: i32, _: i32| OK,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_register_shared_queue",
        |_: i32, _: i32, _: i32| NOT_FOUND,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_resolve_shared_queue",
        |_: i32, _: i32, _: i32, _: i32, _: i32| NOT_FOUND,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_dequeue_shared_queue",
        |_: i32, _: i32, _: i32| NOT_FOUND,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_enqueue_shared_queue",
        |_: i32, _: i32, _: i32| NOT_FOUND,
    )?;
    linker.func_wrap(ENV, "proxy_continue_stream", |_: i32| OK)?;
    linker.func_wrap(ENV, "proxy_close_stream", |_: i32| OK)?;
    linker.func_wrap(
        ENV,
        "proxy_send_local_response",
        |c: C<'_>,
         status: i32,
         details: i32,
         details_len: i32,
         body: i32,
         body_len: i32,
         headers: i32,
         headers_len: i32,
         _grpc_status: i32| {
            let details = read(&c, details, details_len)?;
            let body = read(&c, body, body_len)?;
            let headers = read(&c, headers, headers_len)?;
            Ok(calls::send_local_response(status as u32, &details, &body, &headers) as i32)
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_http_call",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| {
            BAD_ARGUMENT
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_call",
        |_: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32| BAD_ARGUMENT,
    )?;
    linker.func_wrap(
        ENV,
        "proxy_grpc_stream",
        |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| BAD_ARGUMENT,
    )?;
    linker.func_wrap(ENV, "proxy_grpc_send", |_: i32, _: i32, _: i32, _: i32| {
        BAD_ARGUMENT
    })?;
    linker.func_wrap(ENV, "proxy_grpc_cancel", |_: i32| BAD_ARGUMENT)?;
    linker.func_wrap(ENV, "proxy_grpc_close", |_: i32| BAD_ARGUMENT)?;
    linker.func_wrap(ENV, "proxy_get_status", |_: i32, _: i32, _: i32| NOT_FOUND)?;
    linker.func_wrap(ENV, "proxy_set_effective_context", |id: i32| {
        calls::set_effective_context(id as u32) as i32
    })?;
    linker.func_wrap(
        ENV,
        "proxy_call_foreign_function",
        |mut c: C<'_>,
         name: i32,
         name_len: i32,
         argument: i32,
         argument_len: i32,
         data: i32,
         size: i32| {
            let name = read(&c, name, name_len)?;
            let argument = read(&c, argument, argument_len)?;
            give_result(
                &mut c,
                calls::call_foreign_function(&name, &argument),
                data,
                size,
            )
        },
    )?;
    linker.func_wrap(ENV, "proxy_done", || OK)?;
    linker.func_wrap(
        ENV,
        "proxy_define_metric",
        |mut c: C<'_>, kind: i32, name: i32, name_len: i32, ret: i32| {
            let name = read(&c, name, name_len)?;
            Ok(match calls::define_metric(kind as u32, &name) {
                Ok(id) => {
                    write_u32(&mut c, ret, id)?;
                    OK
                }
                Err(status) => status as i32,
            })
        },
    )?;
    linker.func_wrap(
        ENV,
        "proxy_get_metric",
        |mut c: C<'_>, id: i32, ret: i32| {
            Ok(match calls::metric_value(id as u32) {
                Ok(value) => {
                    write_u64(&mut c, ret, value)?;
                    OK
                }
                Err(status) => status as i32,
            })
        },
    )?;
    linker.func_wrap(ENV, "proxy_record_metric", |id: i32, value: i64| {
        calls::record_metric(id as u32, value as u64) as i32
    })?;
    linker.func_wrap(ENV, "proxy_increment_metric", |id: i32, offset: i64| {
        calls::increment_metric(id as u32, offset) as i32
    })?;
    Ok(())
}

fn wasi_functions(linker: &mut Linker<Data>) -> Result<()> {
    const WASI: &str = "wasi_snapshot_preview1";
    // Standard output and error go to the test's output; other descriptors do not exist.
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: C<'_>, fd: i32, iovs: i32, iovs_len: i32, written: i32| {
            if fd != 1 && fd != 2 {
                return Ok(ERRNO_BADF);
            }
            let vectors = read(&c, iovs, iovs_len.saturating_mul(8))?;
            let mut out = Vec::new();
            for vector in vectors.chunks_exact(8) {
                let word = |at: usize| {
                    vector
                        .get(at..at + 4)
                        .and_then(|b| <[u8; 4]>::try_from(b).ok())
                        .map_or(0, i32::from_le_bytes)
                };
                out.extend(read(&c, word(0), word(4))?);
            }
            let text = String::from_utf8_lossy(&out);
            if fd == 1 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            write_u32(&mut c, written, u32::try_from(out.len())?)?;
            Ok(ERRNO_SUCCESS)
        },
    )?;
    // No environment and no arguments.
    for (sizes, get) in [
        ("environ_sizes_get", "environ_get"),
        ("args_sizes_get", "args_get"),
    ] {
        linker.func_wrap(WASI, sizes, |mut c: C<'_>, count: i32, size: i32| {
            write_u32(&mut c, count, 0)?;
            write_u32(&mut c, size, 0)?;
            Ok(ERRNO_SUCCESS)
        })?;
        linker.func_wrap(WASI, get, |_: i32, _: i32| ERRNO_SUCCESS)?;
    }
    linker.func_wrap(WASI, "random_get", |mut c: C<'_>, buf: i32, len: i32| {
        let mut bytes = vec![0; len as u32 as usize];
        calls::random(&mut bytes);
        write(&mut c, buf, &bytes)?;
        Ok(ERRNO_SUCCESS)
    })?;
    // Every clock reads the host clock.
    linker.func_wrap(
        WASI,
        "clock_time_get",
        |mut c: C<'_>, _clock: i32, _precision: i64, time: i32| {
            write_u64(&mut c, time, crate::state::with(|s| s.now_nanos))?;
            Ok(ERRNO_SUCCESS)
        },
    )?;
    linker.func_wrap(WASI, "proc_exit", |code: i32| -> Result<()> {
        wasmtime::bail!("the module exited (proc_exit({code}))")
    })?;
    Ok(())
}
