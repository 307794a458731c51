//! Cheap checks before compiling: size, and whether the bytes are a component at all.

use wasmtime::wasmparser::Parser;

use crate::error::LoadError;

/// The WebAssembly binary magic, `\0asm`.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Rejects anything over `max` bytes, anything that is not WebAssembly and core modules.
pub(crate) fn precheck(wasm: &[u8], max: u64) -> Result<(), LoadError> {
    let size = wasm.len() as u64;
    if size > max {
        return Err(LoadError::TooLarge { size, max });
    }
    if !wasm.starts_with(WASM_MAGIC) {
        return Err(LoadError::NotWasm(format!(
            "the file ({size} bytes) does not start with the WebAssembly magic `\\0asm`"
        )));
    }
    if Parser::is_core_wasm(wasm) {
        return Err(LoadError::CoreModule);
    }
    if !Parser::is_component(wasm) {
        return Err(LoadError::NotWasm("unknown WebAssembly binary version or layer".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_random_bytes() {
        let err = precheck(b"hello world", 100).expect_err("text is not wasm");
        assert!(matches!(err, LoadError::NotWasm(_)), "{err}");
    }

    #[test]
    fn rejects_a_core_module() {
        let core = b"\0asm\x01\x00\x00\x00";
        assert!(matches!(precheck(core, 100), Err(LoadError::CoreModule)));
    }

    #[test]
    fn rejects_oversized_input_first() {
        let err = precheck(&[0u8; 10], 5).expect_err("over the cap");
        assert!(matches!(err, LoadError::TooLarge { size: 10, max: 5 }));
    }

    #[test]
    fn accepts_a_component_header() {
        precheck(b"\0asm\x0d\x00\x01\x00", 100).expect("component layer header");
    }
}
