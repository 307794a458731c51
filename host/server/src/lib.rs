//! HTTP control API, metrics.
