//! Python bindings for `registry`: `RegistryBuilder`, `Registry`, `RegistryError`.
use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::registry::{self, RegistryError as Error};

create_exception!(
    lead2inbound._core,
    RegistryError,
    PyValueError,
    "A registry download file or registry file could not be read or written."
);

fn to_py(e: Error) -> PyErr {
    match e {
        Error::Io(io) => PyErr::from(io),
        other => RegistryError::new_err(other.to_string()),
    }
}

/// Collects an import's numbers from download files fed in chunks, then writes the new file.
#[pyclass(name = "RegistryBuilder", module = "lead2inbound._core")]
pub struct RegistryBuilder {
    inner: Option<registry::Builder>,
}

impl RegistryBuilder {
    fn inner(&mut self) -> PyResult<&mut registry::Builder> {
        self.inner
            .as_mut()
            .ok_or_else(|| RegistryError::new_err("this builder has already built its file"))
    }
}

#[pymethods]
impl RegistryBuilder {
    #[new]
    fn new() -> Self {
        RegistryBuilder {
            inner: Some(registry::Builder::new()),
        }
    }

    /// Feed the next bytes of a download file; lines may span chunks.
    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<()> {
        let inner = self.inner()?;
        py.detach(|| inner.feed(chunk)).map_err(to_py)
    }

    /// The input of one file ended (takes a last line that has no newline).
    fn end_file(&mut self) -> PyResult<()> {
        self.inner()?.end_input().map_err(to_py)
    }

    #[getter]
    fn lines(&mut self) -> PyResult<u64> {
        Ok(self.inner()?.lines())
    }

    /// Write the registry file `out` from `base` (the current file) and the input; returns
    /// `(total, lines, added, deleted, change_list)`.
    #[pyo3(signature = (out, base = None, replace_all = false))]
    fn build(
        &mut self,
        py: Python<'_>,
        out: PathBuf,
        base: Option<PathBuf>,
        replace_all: bool,
    ) -> PyResult<(u64, u64, u64, u64, bool)> {
        let builder = self
            .inner
            .take()
            .ok_or_else(|| RegistryError::new_err("this builder has already built its file"))?;
        let stats = py
            .detach(move || {
                let base = match base {
                    Some(p) if p.exists() => Some(registry::Registry::open(&p)?),
                    _ => None,
                };
                builder.build(base.as_ref(), replace_all, &out)
            })
            .map_err(to_py)?;
        Ok((
            stats.total,
            stats.lines,
            stats.added,
            stats.deleted,
            stats.change_list,
        ))
    }
}

/// A registry file, memory-mapped read-only and binary searched.
#[pyclass(frozen, name = "Registry", module = "lead2inbound._core")]
pub struct Registry {
    inner: registry::Registry,
    path: PathBuf,
}

#[pymethods]
impl Registry {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        let inner = registry::Registry::open(&path).map_err(to_py)?;
        Ok(Registry { inner, path })
    }

    /// Is the number (E.164 `+1...`, `1` + 10 digits, or 10 digits) on the list?
    fn contains(&self, number: &str) -> bool {
        self.inner.contains_str(number)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "Registry(path={:?}, numbers={})",
            self.path.display().to_string(),
            self.inner.len()
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RegistryError", m.py().get_type::<RegistryError>())?;
    m.add_class::<RegistryBuilder>()?;
    m.add_class::<Registry>()?;
    Ok(())
}
