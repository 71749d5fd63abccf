//! Python bindings for `keys`.
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::keys;

/// A key that passed the format and checksum check. The secret is deliberately not exposed.
#[pyclass(frozen, name = "ParsedKey", module = "lead2inbound._core")]
pub struct ParsedKey {
    env: &'static str,
    key_id: String,
    last4: String,
    publishable: bool,
}

#[pymethods]
impl ParsedKey {
    #[getter]
    fn env(&self) -> &'static str {
        self.env
    }
    #[getter]
    fn key_id(&self) -> &str {
        &self.key_id
    }
    #[getter]
    fn last4(&self) -> &str {
        &self.last4
    }
    /// `l2i_pk_...`: a publishable form key.
    #[getter]
    fn publishable(&self) -> bool {
        self.publishable
    }
    fn __repr__(&self) -> String {
        format!(
            "ParsedKey(env={:?}, key_id={:?}, last4={:?}, publishable={})",
            self.env,
            self.key_id,
            self.last4,
            if self.publishable { "True" } else { "False" }
        )
    }
}

/// A new key from the OS CSPRNG: `(full_key, key_id)`. `env` is "live" or "test";
/// `publishable` mints an `l2i_pk_<env>_...` form key.
#[pyfunction]
#[pyo3(signature = (env, publishable = false))]
fn mint_key(env: &str, publishable: bool) -> PyResult<(String, String)> {
    let env = keys::Env::from_name(env).ok_or_else(|| {
        PyValueError::new_err(format!("env must be 'live' or 'test', got {env:?}"))
    })?;
    keys::mint_key_of_kind(env, publishable).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// Format and checksum check with no store involved; `None` for anything malformed.
#[pyfunction]
fn parse_key(presented: &Bound<'_, PyString>) -> Option<ParsedKey> {
    // A string that is not valid UTF-8 (lone surrogates) is malformed, not an error.
    let s = presented.to_str().ok()?;
    keys::parse_key(s).map(|p| ParsedKey {
        env: p.env.as_str(),
        key_id: p.key_id.to_owned(),
        last4: p.last4.to_owned(),
        publishable: p.publishable,
    })
}

fn check_pepper(pepper: &[u8]) -> PyResult<()> {
    if pepper.is_empty() {
        return Err(PyValueError::new_err("pepper must not be empty"));
    }
    Ok(())
}

/// HMAC-SHA256 of the whole key under the server-side pepper (32 bytes).
#[pyfunction]
fn key_digest<'py>(
    py: Python<'py>,
    pepper: &[u8],
    presented: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    check_pepper(pepper)?;
    Ok(PyBytes::new(py, &keys::key_digest(pepper, presented)))
}

/// Constant-time check of `presented` against a stored digest.
#[pyfunction]
fn verify_key(pepper: &[u8], presented: &Bound<'_, PyString>, digest: &[u8]) -> PyResult<bool> {
    check_pepper(pepper)?;
    // Text that is not valid UTF-8 (lone surrogates) cannot be a key.
    Ok(match presented.to_str() {
        Ok(s) => keys::verify_key(pepper, s, digest),
        Err(_) => false,
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ParsedKey>()?;
    m.add_function(wrap_pyfunction!(mint_key, m)?)?;
    m.add_function(wrap_pyfunction!(parse_key, m)?)?;
    m.add_function(wrap_pyfunction!(key_digest, m)?)?;
    m.add_function(wrap_pyfunction!(verify_key, m)?)?;
    Ok(())
}
