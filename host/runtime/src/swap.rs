//! Whether resetting only dirty pages (`pagemap_scan`) is safe on this host.
//!
//! In wasmtime 48 the pagemap reset skips dirty pages that were swapped out, so the next
//! instance in that slot could read the previous task's data (upstream PR #14357). The reset is
//! only enabled when the host has no active swap; otherwise memory is unmapped per instance.

/// Lists active swap areas: a header line, then one line per area.
const PROC_SWAPS: &str = "/proc/swaps";

/// True when no swap is active (and the kernel says so); false when unknown.
pub(crate) fn pagemap_reset_is_safe() -> bool {
    let safe = match std::fs::read_to_string(PROC_SWAPS) {
        Ok(swaps) => no_active_swap(&swaps),
        Err(err) => {
            tracing::info!("cannot read {PROC_SWAPS} ({err}); assuming swap may be active");
            false
        }
    };
    if safe {
        tracing::info!(
            "no swap active: keeping guest memory resident and resetting dirty pages only"
        );
    } else {
        tracing::info!("swap is active or unknown: guest memory is unmapped after every instance");
    }
    safe
}

fn no_active_swap(proc_swaps: &str) -> bool {
    proc_swaps
        .lines()
        .skip(1)
        .all(|line| line.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_only_means_no_swap() {
        assert!(no_active_swap("Filename\tType\tSize\tUsed\tPriority\n"));
    }

    #[test]
    fn any_area_means_swap() {
        let swaps = "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 1024 0 -2\n";
        assert!(!no_active_swap(swaps));
    }
}
