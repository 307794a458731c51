//! Echo, version 2: see `../echo_common/echo.rs`.

/// Which build of the echo task answered.
const VERSION: &str = "v2";

include!("../../echo_common/echo.rs");
