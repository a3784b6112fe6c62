//! The modules' memory allocator: size classes with free lists, for a single-threaded VM.
//!
//! A request allocates and frees a few dozen small blocks (the header map read from the
//! host, its index, attribute values, per-stage state); each costs the general-purpose
//! allocator of `wasm32-wasip1` (dlmalloc) a search of its bins, more in V8 than natively.
//! Here a block of up to 4 KiB is taken from the free list of its power-of-two size class,
//! or cut from a 64 KiB chunk, and given back to that list: a handful of instructions each
//! way. Larger blocks go to the system allocator. Memory in the lists is kept for reuse,
//! never returned: a filter's steady state is a few requests' worth of blocks.
//! (BENCHMARKS.md: about 1 300 instructions per request for a filter making five host
//! calls.)
//!
//! Every module built for wasm32 with the SDK uses it; native builds (tests, the emulator)
//! keep the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// The allocator of every wasm32 module built with the SDK (one VM, one thread).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: SizeClasses = SizeClasses::new();

/// Size classes: 16, 32, ..., 4096 bytes.
const CLASSES: usize = 9;
/// The largest block served from a size class.
const LARGEST: usize = 16 << (CLASSES - 1);
/// What one refill takes from the system allocator.
const CHUNK: usize = 64 * 1024;

/// The allocator; see the module documentation.
#[derive(Debug)]
pub struct SizeClasses {
    state: UnsafeCell<State>,
}

#[derive(Debug)]
struct State {
    /// Per class, the address of the first free block (0: none); each free block holds
    /// the address of the next.
    free: [usize; CLASSES],
    /// Where the current chunk's unused part starts and ends.
    next: usize,
    end: usize,
}

// SAFETY: a proxy-wasm VM runs one thread; the type is only installed on wasm32 without
// the `atomics` feature, where there is no other thread.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    /// An allocator with no memory yet.
    pub const fn new() -> Self {
        Self {
            state: UnsafeCell::new(State {
                free: [0; CLASSES],
                next: 0,
                end: 0,
            }),
        }
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of `layout` (a block of `16 << class` bytes, aligned to its size), or
/// `None` for a block the system allocator serves.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(16);
    if size > LARGEST {
        return None;
    }
    let bits = usize::BITS - (size - 1).leading_zeros();
    usize::try_from(bits).ok()?.checked_sub(4)
}

// SAFETY: blocks are handed out once until freed, are at least `layout.size()` bytes and
// aligned to their (power-of-two) size, which is at least `layout.align()`: chunks are
// aligned to `LARGEST` and blocks are cut at multiples of their size.
unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return System.alloc(layout);
        };
        let state = &mut *self.state.get();
        let Some(head) = state.free.get_mut(class) else {
            return System.alloc(layout);
        };
        if *head != 0 {
            let block = *head as *mut u8;
            *head = *(block as *const usize);
            return block;
        }
        let size = 16usize << class;
        let mut at = (state.next + size - 1) & !(size - 1);
        if state.next == 0 || at + size > state.end {
            let chunk = System.alloc(Layout::from_size_align_unchecked(CHUNK, LARGEST));
            if chunk.is_null() {
                return chunk;
            }
            state.next = chunk as usize;
            state.end = state.next + CHUNK;
            at = state.next;
        }
        state.next = at + size;
        at as *mut u8
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            return System.dealloc(block, layout);
        };
        let state = &mut *self.state.get();
        if let Some(head) = state.free.get_mut(class) {
            *(block as *mut usize) = *head;
            *head = block as usize;
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (class_of(layout), class_of(new_layout)) {
            (Some(old), Some(new)) if old == new => block,
            (None, None) => System.realloc(block, layout, new_size),
            _ => {
                let moved = self.alloc(new_layout);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                    self.dealloc(block, layout);
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn sizes_map_to_the_smallest_class_that_holds_them() {
        let class = |size, align| class_of(Layout::from_size_align(size, align).unwrap());
        assert_eq!(class(1, 1), Some(0));
        assert_eq!(class(16, 8), Some(0));
        assert_eq!(class(17, 1), Some(1));
        assert_eq!(class(4, 64), Some(2));
        assert_eq!(class(4096, 1), Some(8));
        assert_eq!(class(4097, 1), None);
    }

    #[test]
    fn blocks_are_aligned_reused_and_kept_apart() {
        let allocator = SizeClasses::new();
        unsafe {
            let layout = Layout::from_size_align(24, 8).unwrap();
            let a = allocator.alloc(layout);
            let b = allocator.alloc(layout);
            assert_ne!(a, b);
            assert_eq!(a as usize % 32, 0);
            a.write_bytes(0xAA, 24);
            b.write_bytes(0xBB, 24);
            assert_eq!(*a.add(23), 0xAA);
            allocator.dealloc(a, layout);
            assert_eq!(allocator.alloc(layout), a);
            let grown = allocator.realloc(b, layout, 100);
            assert_eq!(*grown.add(23), 0xBB);
            let big = Layout::from_size_align(10_000, 8).unwrap();
            let c = allocator.alloc(big);
            assert!(!c.is_null());
            allocator.dealloc(c, big);
            allocator.dealloc(grown, Layout::from_size_align(100, 8).unwrap());
        }
    }
}
