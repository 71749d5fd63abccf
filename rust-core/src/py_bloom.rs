//! Python bindings for `bloom`.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::bloom::{self, BloomError};

fn value_error(e: BloomError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Time-windowed bloom filter used as a "definitely not present" hint. Thread-safe: the bits are
/// atomics, so methods never need a lock of their own.
#[pyclass(frozen, name = "WindowedBloom", module = "lead2inbound._core")]
pub struct WindowedBloom {
    inner: bloom::WindowedBloom,
}

impl WindowedBloom {
    fn slice(&self, now: Option<f64>) -> PyResult<i64> {
        let now = now.unwrap_or_else(bloom::now_seconds);
        self.inner.slice_at(now).map_err(value_error)
    }
}

#[pymethods]
impl WindowedBloom {
    #[new]
    #[pyo3(signature = (capacity, fp_rate, window_seconds, generations = 4))]
    fn new(capacity: i64, fp_rate: f64, window_seconds: f64, generations: i64) -> PyResult<Self> {
        let capacity = u64::try_from(capacity)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| value_error(BloomError::Capacity))?;
        let generations = u32::try_from(generations)
            .ok()
            .filter(|&g| g > 0)
            .ok_or_else(|| value_error(BloomError::Generations))?;
        let inner = bloom::WindowedBloom::new(capacity, fp_rate, window_seconds, generations)
            .map_err(value_error)?;
        Ok(WindowedBloom { inner })
    }

    /// A no-op: `__new__` does all the work. Having our own `__init__` makes the class's signature
    /// (from `__new__`) the visible constructor signature, which is what the stub declares.
    #[pyo3(signature = (*_args, **_kwargs))]
    fn __init__(&self, _args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) {}

    #[pyo3(signature = (key, now = None))]
    fn insert(&self, key: &str, now: Option<f64>) -> PyResult<()> {
        let slice = self.slice(now)?;
        self.inner.insert_in_slice(key.as_bytes(), slice);
        Ok(())
    }

    #[pyo3(signature = (keys, now = None))]
    fn insert_many(&self, keys: &Bound<'_, PyAny>, now: Option<f64>) -> PyResult<()> {
        let slice = self.slice(now)?;
        // Borrow each str in place (no copies); the clock is read once for the whole batch.
        for item in keys.try_iter()? {
            let item = item?;
            let s = item.cast::<PyString>()?;
            self.inner.insert_in_slice(s.to_str()?.as_bytes(), slice);
        }
        Ok(())
    }

    #[pyo3(signature = (key, now = None))]
    fn contains(&self, key: &str, now: Option<f64>) -> PyResult<bool> {
        let slice = self.slice(now)?;
        Ok(self.inner.contains_in_slice(key.as_bytes(), slice))
    }

    fn clear(&self) {
        self.inner.clear();
    }

    #[getter]
    fn capacity(&self) -> u64 {
        self.inner.capacity()
    }

    #[getter]
    fn fp_rate(&self) -> f64 {
        self.inner.fp_rate()
    }

    #[getter]
    fn window_seconds(&self) -> f64 {
        self.inner.window_seconds()
    }

    fn __repr__(&self) -> String {
        format!(
            "WindowedBloom(capacity={}, fp_rate={}, window_seconds={}, generations={})",
            self.inner.capacity(),
            self.inner.fp_rate(),
            self.inner.window_seconds(),
            self.inner.generations()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<WindowedBloom>()?;
    Ok(())
}
