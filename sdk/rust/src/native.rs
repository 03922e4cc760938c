//! Running a plugin natively, for unit tests and for baselines: host calls go to a
//! [`NativeHost`] set for the current thread instead of to the WebAssembly host.
//!
//! Only on targets other than `wasm32`; inside a component the real host answers.

use std::cell::RefCell;

use crate::bindings::hotloop::plugin::types as wit;

/// The host functions, implemented natively.
pub trait NativeHost {
    fn get(&mut self, target: &wit::ObjectRef) -> Result<Option<String>, wit::HostError>;
    fn list(
        &mut self,
        target: &wit::ObjectRef,
        selector: &str,
    ) -> Result<Vec<String>, wit::HostError>;
    fn apply(&mut self, object: &str) -> Result<String, wit::HostError>;
    fn delete(&mut self, target: &wit::ObjectRef) -> Result<bool, wit::HostError>;
    fn event(&mut self, event_type: wit::EventType, reason: &str, message: &str);
    fn log(&mut self, level: wit::LogLevel, message: &str, fields: &[(String, String)]);
}

thread_local! {
    static HOST: RefCell<Option<Box<dyn NativeHost>>> = const { RefCell::new(None) };
}

/// Runs `run` with `host` answering the plugin's host calls on this thread.
pub fn with_host<R>(host: Box<dyn NativeHost>, run: impl FnOnce() -> R) -> R {
    let previous = HOST.with(|slot| slot.borrow_mut().replace(host));
    let result = run();
    HOST.with(|slot| *slot.borrow_mut() = previous);
    result
}

fn no_host() -> wit::HostError {
    wit::HostError::Unavailable(
        "no native host is set on this thread; use native::with_host".into(),
    )
}

fn call<R>(fallback: R, f: impl FnOnce(&mut dyn NativeHost) -> R) -> R {
    HOST.with(|slot| match slot.borrow_mut().as_mut() {
        Some(host) => f(host.as_mut()),
        None => fallback,
    })
}

pub(crate) fn get(target: &wit::ObjectRef) -> Result<Option<String>, wit::HostError> {
    call(Err(no_host()), |host| host.get(target))
}

pub(crate) fn list(target: &wit::ObjectRef, selector: &str) -> Result<Vec<String>, wit::HostError> {
    call(Err(no_host()), |host| host.list(target, selector))
}

pub(crate) fn apply(object: &str) -> Result<String, wit::HostError> {
    call(Err(no_host()), |host| host.apply(object))
}

pub(crate) fn delete(target: &wit::ObjectRef) -> Result<bool, wit::HostError> {
    call(Err(no_host()), |host| host.delete(target))
}

pub(crate) fn event(event_type: wit::EventType, reason: &str, message: &str) {
    call((), |host| host.event(event_type, reason, message));
}

pub(crate) fn log(level: wit::LogLevel, message: &str, fields: &[(String, String)]) {
    call((), |host| host.log(level, message, fields));
}
