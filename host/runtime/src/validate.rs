//! Cheap checks before compiling: size, and whether the bytes are a component at all.

use crate::error::LoadError;

/// The WebAssembly binary magic, `\0asm`.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version and layer after the magic of a core module (version 1, layer 0).
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
/// Version and layer after the magic of a component (pre-release version 0xd, layer 1).
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

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
    match wasm.get(4..8) {
        Some(version) if version == CORE_VERSION => Err(LoadError::CoreModule),
        Some(version) if version == COMPONENT_VERSION => Ok(()),
        version => Err(LoadError::NotWasm(format!(
            "unknown WebAssembly version/layer {version:02x?} (expected a component, {COMPONENT_VERSION:02x?})"
        ))),
    }
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
