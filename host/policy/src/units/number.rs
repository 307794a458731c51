//! Exact decimal numbers for the unit grammars: `123` or `1.25`, scaled by an integer unit
//! without floating point (so `parse(format(x)) == x` holds for every value).

/// Longest number accepted (keeps every product inside `u128`).
const MAX_DIGITS: usize = 30;

/// `number` × `unit` as an exact integer, and whether a fraction of the result was dropped.
/// `None` when `number` is not `digits[.digits]`.
pub(super) fn scaled(number: &str, unit: u128) -> Option<(u128, bool)> {
    if number.is_empty() || number.len() > MAX_DIGITS {
        return None;
    }
    let (int, frac) = match number.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (number, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let whole = int.checked_mul(unit)?;
    if frac.is_empty() {
        return Some((whole, false));
    }
    let denominator = 10u128.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let numerator = frac.parse::<u128>().ok()?.checked_mul(unit)?;
    let part = numerator / denominator;
    Some((whole.checked_add(part)?, numerator % denominator != 0))
}

#[cfg(test)]
mod tests {
    use super::scaled;

    #[test]
    fn scales_exactly() {
        assert_eq!(scaled("12", 1000), Some((12_000, false)));
        assert_eq!(scaled("1.25", 1000), Some((1250, false)));
        assert_eq!(scaled(".5", 1000), Some((500, false)));
        assert_eq!(scaled("0.0005", 1000), Some((0, true)));
        for bad in ["", ".", "1.", "1.2.3", "-1", "+1", "1e3", "1_000", " 1"] {
            assert_eq!(scaled(bad, 10), None, "{bad:?}");
        }
    }
}
