//! Python bindings for `phone`: `InvalidPhone`, `PhoneNumber`, `normalize`, `normalize_many`.
use pyo3::create_exception;
use pyo3::exceptions::{PyBaseException, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::phone::{self, Phone, Reason};

create_exception!(
    lead2inbound._core,
    InvalidPhone,
    PyValueError,
    "The input is not a possible phone number (`reason` says why)."
);

/// An `InvalidPhone` instance with `reason` set and the reason as its message.
fn invalid_phone(py: Python<'_>, reason: Reason) -> PyResult<Bound<'_, PyBaseException>> {
    let err = InvalidPhone::new_err(format!("not a possible phone number: {reason}"));
    let value = err.into_value(py).into_bound(py);
    value.setattr(intern!(py, "reason"), reason.as_str())?;
    Ok(value)
}

/// A parsed phone number, as libphonenumber would see it.
#[pyclass(frozen, module = "lead2inbound._core", name = "PhoneNumber")]
pub struct PhoneNumber {
    inner: Phone,
    e164: String,
}

#[pymethods]
impl PhoneNumber {
    #[getter]
    fn e164(&self) -> &str {
        &self.e164
    }

    #[getter]
    fn possible(&self) -> bool {
        true
    }

    #[getter]
    fn valid(&self) -> bool {
        self.inner.valid
    }

    #[getter]
    fn region(&self) -> Option<&'static str> {
        self.inner.region
    }

    #[getter]
    fn country_code(&self) -> u16 {
        self.inner.country_code
    }

    #[getter]
    fn national_number(&self) -> &str {
        &self.inner.national_number
    }

    #[getter]
    fn extension(&self) -> Option<&str> {
        self.inner.extension.as_deref()
    }

    fn __repr__(&self) -> String {
        let mut s = format!(
            "PhoneNumber(e164={:?}, valid={}, region={}",
            self.e164,
            if self.inner.valid { "True" } else { "False" },
            match self.inner.region {
                Some(r) => format!("{r:?}"),
                None => "None".to_string(),
            }
        );
        if let Some(ext) = &self.inner.extension {
            s.push_str(&format!(", extension={ext:?}"));
        }
        s.push(')');
        s
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<PhoneNumber>() {
            Ok(o) => o.get().inner == self.inner,
            Err(_) => false,
        }
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.e164.hash(&mut h);
        self.inner.extension.hash(&mut h);
        h.finish()
    }
}

impl PhoneNumber {
    fn new(inner: Phone) -> Self {
        PhoneNumber {
            e164: inner.e164(),
            inner,
        }
    }
}

/// The text of a Python `str`. Lone surrogates (which UTF-8 cannot hold) become U+FFFD: like a
/// surrogate, it is no digit, letter, punctuation or plus sign to libphonenumber, and it keeps the
/// length in code points, so the result is the same as the oracle's.
fn text(s: &Bound<'_, PyString>) -> PyResult<String> {
    if let Ok(t) = s.to_str() {
        return Ok(t.to_owned());
    }
    let bytes = s.call_method1("encode", ("utf-8", "surrogatepass"))?;
    let bytes = bytes.cast::<PyBytes>()?.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(t) => {
                out.push_str(t);
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&rest[..good]).unwrap_or_default());
                out.push('\u{FFFD}');
                // An encoded surrogate is always three bytes (0xED 0xA0..0xBF 0x80..0xBF).
                rest = &rest[(good + 3).min(rest.len())..];
            }
        }
    }
    Ok(out)
}

/// Normalize `raw` to E.164; raises `InvalidPhone` when it is not a possible number.
#[pyfunction]
#[pyo3(signature = (raw, default_region = "US"))]
fn normalize(
    py: Python<'_>,
    raw: &Bound<'_, PyString>,
    default_region: &str,
) -> PyResult<PhoneNumber> {
    let result = match raw.to_str() {
        Ok(r) => phone::normalize(r, default_region),
        Err(_) => phone::normalize(&text(raw)?, default_region),
    };
    match result {
        Ok(p) => Ok(PhoneNumber::new(p)),
        Err(reason) => Err(PyErr::from_value(invalid_phone(py, reason)?.into_any())),
    }
}

/// Normalize many inputs without the interpreter lock; failures come back as values.
#[pyfunction]
#[pyo3(signature = (raws, default_region = "US"))]
fn normalize_many<'py>(
    py: Python<'py>,
    raws: &Bound<'py, PyList>,
    default_region: &str,
) -> PyResult<Bound<'py, PyList>> {
    let mut owned: Vec<String> = Vec::with_capacity(raws.len());
    for item in raws.iter() {
        let s = item
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("normalize_many expects a list of str"))?;
        owned.push(text(s)?);
    }
    let region = default_region.to_owned();
    let results: Vec<Result<Phone, Reason>> = py.detach(move || {
        owned
            .iter()
            .map(|raw| phone::normalize(raw, &region))
            .collect()
    });
    let out = PyList::empty(py);
    for r in results {
        match r {
            Ok(p) => out.append(Bound::new(py, PhoneNumber::new(p))?)?,
            Err(reason) => out.append(invalid_phone(py, reason)?)?,
        }
    }
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let exc = py.get_type::<InvalidPhone>();
    // A class-level default so `InvalidPhone.reason` exists (instances raised here set their own).
    exc.setattr("reason", Reason::NotANumber.as_str())?;
    m.add("InvalidPhone", exc)?;
    m.add_class::<PhoneNumber>()?;
    m.add_function(wrap_pyfunction!(normalize, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_many, m)?)?;
    Ok(())
}
