//! Echo, version 1: see `../echo_common/echo.rs`.

/// Which build of the echo task answered.
const VERSION: &str = "v1";

include!("../../echo_common/echo.rs");
