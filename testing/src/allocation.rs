//! Counting allocations, for tests that prove a fast path allocates nothing.
//!
//! A test binary installs the [`CountingAllocator`] as its global allocator and
//! measures a piece of code with [`count_allocations`]:
//!
//! ```ignore
//! use wasmesh_testing::{count_allocations, CountingAllocator};
//!
//! #[global_allocator]
//! static ALLOCATOR: CountingAllocator = CountingAllocator;
//!
//! let (_, allocations) = count_allocations(|| canonicalize(b"/admin", &options));
//! assert_eq!(allocations, 0);
//! ```
//!
//! Allocations are tallied per thread, so tests running in parallel on other threads
//! do not disturb the count. Without the global allocator installed every count is 0.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// A global allocator that forwards to the system allocator and counts, per thread,
/// the allocations (`alloc`, `alloc_zeroed` and `realloc`; not `dealloc`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn record_allocation() {
    // `try_with` fails only while the thread is being torn down; such
    // allocations are of no interest here.
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get().wrapping_add(1)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// wrapper only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record_allocation();
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `measured` and returns its result with the number of allocations it made on
/// this thread (dropping the result afterwards is not measured).
pub fn count_allocations<T>(measured: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = measured();
    let after = ALLOCATIONS.with(Cell::get);
    (result, after.wrapping_sub(before))
}
