//! Echo, version 2: see `../echo_common/echo.rs`.

#![expect(
    clippy::too_many_arguments,
    reason = "the generated export glue spreads the context"
)]

/// Which build of the echo task answered.
const VERSION: &str = "v2";

include!("../../echo_common/echo.rs");
