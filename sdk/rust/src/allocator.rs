//! The memory allocator of a plugin component.
//!
//! Every call runs in a fresh instance whose memory is thrown away afterwards, and a reconcile
//! makes many small, short-lived allocations (the object's strings, the declaration, the
//! result). The C library's general-purpose allocator is built for long-running programs; this
//! one is built for that pattern, and takes a fraction of the instructions:
//!
//! - a request of up to [`LARGEST_CLASS`] bytes is rounded up to a power of two and served
//!   from that size's list of freed blocks, or else cut from the current chunk;
//! - freeing such a block puts it back on its size's list (Rust passes the size back, so blocks
//!   need no header);
//! - anything larger, or aligned to more than 16 bytes, goes to the C library's allocator.
//!
//! The first chunk is [`ARENA_BYTES`] of zeroed static memory, part of the component's initial
//! memory, so a call that stays within it never grows its memory: growing costs the host two
//! system calls per call (one to grow, one to shrink back when the instance is recycled).
//! Pages of it that a call does not touch cost nothing. Later chunks come from the C library.
//!
//! # Caveats
//! Freed small blocks are only reused for requests of the same size class, so a plugin that
//! frees many small blocks of one size and then allocates many of another holds the sum of
//! its peak use in each class rather than its overall peak, within the plugin's memory limit.
//! A plugin that wants its own `#[global_allocator]` turns off the SDK's default `allocator`
//! feature.

#![allow(unsafe_code)] // a global allocator is unsafe by nature; see each block's SAFETY note

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr;
use std::alloc::System;

/// The smallest block: 16 bytes, as aligned as any request served from the lists.
const SMALLEST_SHIFT: u32 = 4;
const LARGEST_SHIFT: u32 = 14;
/// The largest request served from the size lists; larger ones go to the C library.
pub(crate) const LARGEST_CLASS: usize = 1 << LARGEST_SHIFT;
const CLASSES: usize = (LARGEST_SHIFT - SMALLEST_SHIFT + 1) as usize;
const BLOCK_ALIGN: usize = 1 << SMALLEST_SHIFT;
/// The first chunk, held in the allocator itself.
pub(crate) const ARENA_BYTES: usize = 128 << 10;
/// Chunks after the arena; each one twice the last, up to [`LAST_CHUNK`].
const FIRST_CHUNK: usize = 32 << 10;
const LAST_CHUNK: usize = 1 << 20;

/// Everything the allocator keeps. It starts all zero, so that the global allocator lies in
/// the zeroed part of memory: no bytes of it in the component, and no page of initialised
/// data that every call would dirty and the host would copy back afterwards.
struct State {
    /// Head of each size's list of freed blocks; a freed block holds the next one's address.
    free: [*mut u8; CLASSES],
    /// The unused part of the current chunk.
    next: *mut u8,
    end: *mut u8,
    /// Whether the arena is the current (or a past) chunk.
    arena_taken: bool,
    /// The size of the last chunk taken from the C library; 0 before the first.
    chunk: usize,
}

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

/// The allocator behind every plugin component built with the `allocator` feature.
///
/// Only sound on one thread: a component instance has no others.
#[derive(Debug)]
pub(crate) struct CallAllocator {
    state: UnsafeCell<State>,
    arena: Arena,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Arena({ARENA_BYTES} bytes)")
    }
}

// SAFETY: a component instance runs on one thread (wasm32-wasip2 has no threads), so the
// state is never reached from two threads at once; the tests use their own instances, each
// on one thread.
unsafe impl Sync for CallAllocator {}

impl CallAllocator {
    pub(crate) const fn new() -> Self {
        CallAllocator {
            state: UnsafeCell::new(State {
                free: [ptr::null_mut(); CLASSES],
                next: ptr::null_mut(),
                end: ptr::null_mut(),
                arena_taken: false,
                chunk: 0,
            }),
            arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
        }
    }
}

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: CallAllocator = CallAllocator::new();

/// The size class of a request that fits one: block size `1 << (class + SMALLEST_SHIFT)`.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() > LARGEST_CLASS || layout.align() > BLOCK_ALIGN {
        return None;
    }
    let size = layout.size().max(BLOCK_ALIGN);
    Some((usize::BITS - (size - 1).leading_zeros() - SMALLEST_SHIFT) as usize)
}

impl State {
    /// A block of `class` cut from the current chunk, taking the next chunk when it is used
    /// up: the arena first, then ever larger ones from the C library.
    ///
    /// # Safety
    /// Only the allocator calls it, with its state borrowed exclusively and its own arena.
    unsafe fn cut(&mut self, class: usize, arena: &Arena) -> *mut u8 {
        let size = 1 << (class as u32 + SMALLEST_SHIFT);
        if (self.end as usize) - (self.next as usize) < size {
            // The rest of the old chunk is left unused: less than one block of this size.
            let (fresh, len) = if self.arena_taken {
                self.chunk = if self.chunk == 0 { FIRST_CHUNK } else { self.chunk * 2 };
                self.chunk = self.chunk.min(LAST_CHUNK);
                // SAFETY: the layout has a non-zero size and a valid alignment.
                let layout = unsafe { Layout::from_size_align_unchecked(self.chunk, BLOCK_ALIGN) };
                // SAFETY: as above.
                (unsafe { System.alloc(layout) }, self.chunk)
            } else {
                self.arena_taken = true;
                (arena.0.get().cast::<u8>(), ARENA_BYTES)
            };
            if fresh.is_null() {
                return fresh;
            }
            self.next = fresh;
            // SAFETY: `fresh` is the start of `len` bytes.
            self.end = unsafe { fresh.add(len) };
        }
        let block = self.next;
        // SAFETY: at least `size` bytes remain between `next` and `end`.
        self.next = unsafe { block.add(size) };
        block
    }
}

// SAFETY: blocks handed out never overlap: each is cut once from a chunk and is either in use
// or on exactly one free list, and requests the lists cannot serve go to `System`.
unsafe impl GlobalAlloc for CallAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: forwarded with the caller's guarantees.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: one thread, and no call below re-enters the allocator's state.
        let state = unsafe { &mut *self.state.get() };
        let head = state.free[class];
        if head.is_null() {
            // SAFETY: the state is borrowed exclusively, and the arena is this allocator's.
            return unsafe { state.cut(class, &self.arena) };
        }
        // SAFETY: a freed block holds the address of the next freed block of its class.
        state.free[class] = unsafe { head.cast::<*mut u8>().read() };
        head
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: a block of this layout came from `System`.
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: one thread, and no call below re-enters the allocator's state.
        let state = unsafe { &mut *self.state.get() };
        // SAFETY: the block is at least 16 bytes, 16-aligned, and no longer in use.
        unsafe { block.cast::<*mut u8>().write(state.free[class]) };
        state.free[class] = block;
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid new size for this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: the block came from `System`, which may grow it in place.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: as for `alloc` and `dealloc`; the two blocks do not overlap.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// An allocator of its own, as large as the component's global one.
    fn allocator() -> &'static CallAllocator {
        Box::leak(Box::new(CallAllocator::new()))
    }

    #[test]
    fn requests_are_rounded_up_to_a_power_of_two_from_16_bytes() {
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(16, 8)), Some(0));
        assert_eq!(class_of(layout(17, 8)), Some(1));
        assert_eq!(class_of(layout(LARGEST_CLASS, 8)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(LARGEST_CLASS + 1, 8)), None);
        assert_eq!(class_of(layout(64, 32)), None, "alignment above 16 goes to the C library");
    }

    #[test]
    fn a_freed_block_is_reused_by_the_next_request_of_its_size() {
        let allocator = allocator();
        unsafe {
            let first = allocator.alloc(layout(40, 8));
            allocator.dealloc(first, layout(40, 8));
            assert_eq!(allocator.alloc(layout(60, 8)), first, "40 and 60 bytes share a class");
            assert_ne!(allocator.alloc(layout(60, 8)), first);
        }
    }

    #[test]
    fn blocks_in_use_do_not_overlap_and_are_aligned() {
        let allocator = allocator();
        let mut blocks = Vec::new();
        for size in (1..3000).step_by(37) {
            let block = unsafe { allocator.alloc(layout(size, 16)) };
            assert_eq!(block as usize % 16, 0);
            unsafe { block.write_bytes(0xa5, size) };
            blocks.push((block as usize, size));
        }
        blocks.sort_unstable();
        for pair in blocks.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:?} overlap");
        }
    }

    #[test]
    fn the_arena_is_the_first_chunk_and_the_c_library_supplies_the_next() {
        let allocator = allocator();
        let arena = allocator.arena.0.get() as usize;
        let mut in_arena = 0;
        for _ in 0..(ARENA_BYTES / LARGEST_CLASS + 1) {
            let block = unsafe { allocator.alloc(layout(LARGEST_CLASS, 8)) } as usize;
            if (arena..arena + ARENA_BYTES).contains(&block) {
                in_arena += 1;
            }
        }
        assert_eq!(in_arena, ARENA_BYTES / LARGEST_CLASS);
    }

    #[test]
    fn growing_within_a_class_keeps_the_block_and_growing_past_it_keeps_the_bytes() {
        let allocator = allocator();
        unsafe {
            let block = allocator.alloc(layout(20, 1));
            block.copy_from_nonoverlapping(b"twenty bytes of text".as_ptr(), 20);
            assert_eq!(allocator.realloc(block, layout(20, 1), 32), block);
            let moved = allocator.realloc(block, layout(32, 1), 100_000);
            assert_eq!(core::slice::from_raw_parts(moved, 20), b"twenty bytes of text");
            let back = allocator.realloc(moved, layout(100_000, 1), 20);
            assert_eq!(core::slice::from_raw_parts(back, 20), b"twenty bytes of text");
            allocator.dealloc(back, layout(20, 1));
        }
    }
}
