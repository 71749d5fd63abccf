//! lead2inbound's hot-path core. Each module is plain Rust with its own tests; the Python
//! bindings live in `py_*` modules behind the `python` feature, so this file stays a thin index.

pub mod bloom;
pub mod keys;
pub mod phone;
// Generated from the `phonenumbers` package by tools/gen_phone_metadata.py.
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic)]
pub mod phone_meta;
pub mod registry;

#[cfg(feature = "python")]
mod py_bloom;
#[cfg(feature = "python")]
mod py_keys;
#[cfg(feature = "python")]
mod py_phone;
#[cfg(feature = "python")]
mod py_registry;

#[cfg(feature = "python")]
use pyo3::prelude::*;

#[cfg(feature = "python")]
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    py_phone::register(m)?;
    py_keys::register(m)?;
    py_bloom::register(m)?;
    py_registry::register(m)?;
    Ok(())
}
