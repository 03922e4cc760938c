//! Standard output and standard error of a plugin, without WASI.
//!
//! Rust's standard library on `wasm32-wasip2` writes through the C library's `write` and
//! `writev` and reads the environment through `getenv` (the panic message, and
//! `RUST_BACKTRACE`). Left alone, those pull in wasi-libc's stdio, which imports thirteen WASI
//! interfaces into every plugin, and each import costs the host work every time it creates
//! the fresh instance a call runs in. This module defines the three functions itself, so the
//! linker never takes wasi-libc's:
//!
//! - standard error goes to the host's `log` import, marked with [`STREAM_FIELD`] = `stderr`.
//!   The host keeps it (bounded) for the panic or trap message of a failed call; it is not a
//!   host call of the plugin's budget.
//! - standard output is discarded, as it was under WASI without a standard output.
//! - every variable of the environment is unset, as it was under WASI without an environment.
//!
//! # Caveats
//! - A plugin that uses another part of the C library that needs WASI (files, sockets,
//!   `std::env::vars`) still imports those interfaces; the host still offers them, without
//!   capabilities. Any other file descriptor than 1 and 2 is not open (`EBADF`), as before:
//!   the sandbox has no files, and these functions replace the C library's for every
//!   descriptor.
//! - Being `#[no_mangle]`, the three functions are also exports of the component's core
//!   module; the component itself exports only the contract.
//! - A host older than this route would count each standard error line as a host call and
//!   log it instead of keeping it for the failure message.

#![allow(unsafe_code)] // defines C functions the standard library calls, and a raw host import

use core::ffi::{c_char, c_int, c_void};

/// Key of the `log` field that marks a line as the plugin's standard error.
pub const STREAM_FIELD: &str = "hotloop.dev/stream";

const STDOUT: c_int = 1;
const STDERR: c_int = 2;
/// wasi-libc's `EBADF`.
const EBADF: c_int = 8;
/// `error` in the contract's `log-level`.
const LEVEL_ERROR: i32 = 4;

/// A `tuple<string, string>` as the canonical ABI lays it out in memory.
#[repr(C)]
struct Field {
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
}

/// C's `struct iovec`.
#[repr(C)]
struct IoVec {
    base: *const u8,
    len: usize,
}

// The contract's `log`, declared without the generated wrapper: the wrapper allocates to lower
// the fields, and standard error must work when allocation has just failed.
#[link(wasm_import_module = "hotloop:plugin/host@0.1.0")]
unsafe extern "C" {
    #[link_name = "log"]
    fn host_log(level: i32, message: *const u8, len: usize, fields: *const Field, count: usize);
}

unsafe extern "C" {
    fn __errno_location() -> *mut c_int;
}

/// Sends bytes written to standard error to the host. Rust writes whole UTF-8 pieces; should
/// a piece not be UTF-8, its valid start is sent and the rest is dropped.
fn send_stderr(bytes: &[u8]) {
    let text = match core::str::from_utf8(bytes) {
        Ok(_) => bytes,
        Err(error) => &bytes[..error.valid_up_to()],
    };
    if text.is_empty() {
        return;
    }
    let field = Field {
        key: STREAM_FIELD.as_ptr(),
        key_len: STREAM_FIELD.len(),
        value: b"stderr".as_ptr(),
        value_len: b"stderr".len(),
    };
    // SAFETY: every pointer refers to memory that lives through the call, and the text is
    // valid UTF-8, as the canonical ABI requires of a string.
    unsafe { host_log(LEVEL_ERROR, text.as_ptr(), text.len(), &field, 1) };
}

fn bad_descriptor() -> isize {
    // SAFETY: wasi-libc's errno location is always valid.
    unsafe { *__errno_location() = EBADF };
    -1
}

/// Replaces wasi-libc's `write`.
///
/// # Safety
/// As C's `write`: `buf` points to `len` readable bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: usize) -> isize {
    match fd {
        STDOUT | STDERR if len == 0 => 0,
        STDOUT => len as isize,
        STDERR => {
            // SAFETY: the caller passes `len` readable bytes at `buf`.
            send_stderr(unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) });
            len as isize
        }
        _ => bad_descriptor(),
    }
}

/// Replaces wasi-libc's `writev`.
///
/// # Safety
/// As C's `writev`: `iov` points to `count` buffer descriptions of readable bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn writev(fd: c_int, iov: *const IoVec, count: c_int) -> isize {
    if fd != STDOUT && fd != STDERR {
        return bad_descriptor();
    }
    if count <= 0 {
        return 0;
    }
    // SAFETY: the caller passes `count` buffer descriptions at `iov`.
    let buffers = unsafe { core::slice::from_raw_parts(iov, usize::try_from(count).unwrap_or(0)) };
    let mut written = 0_usize;
    for buffer in buffers {
        if fd == STDERR && buffer.len > 0 {
            // SAFETY: each description names `len` readable bytes at `base`.
            send_stderr(unsafe { core::slice::from_raw_parts(buffer.base, buffer.len) });
        }
        written += buffer.len;
    }
    written as isize
}

/// Replaces wasi-libc's `getenv`: a plugin has no environment.
#[unsafe(no_mangle)]
extern "C" fn getenv(_name: *const c_char) -> *mut c_char {
    core::ptr::null_mut()
}
