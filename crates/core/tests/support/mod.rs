//! Code shared by the integration tests and the fuzz targets of `fuzz/`, which include this
//! folder by path: the model of the engine and the targets that decode bytes into checks.

pub(crate) mod cookie_model;
pub(crate) mod model;
pub(crate) mod targets;
