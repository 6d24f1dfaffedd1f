//! The facade's packed form of a session's data entries: `<len>:<text>` for key, value, key,
//! value..., `len` counting UTF-16 code units as JavaScript does. One string crosses the
//! boundary for a whole record instead of two per entry (converting a JS array costs napi
//! calls per element).

/// Splits `<len>:<text>` off the front of `packed`. With `ascii` (the whole packed string is
/// ASCII, checked once by the caller) a code unit is a byte and the text is sliced at once;
/// otherwise the characters are walked to count their UTF-16 units.
fn take_packed(packed: &str, ascii: bool) -> Option<(&str, &str)> {
    let (digits, body) = packed.split_once(':')?;
    let units: usize = digits.parse().ok()?;
    if ascii {
        return Some((body.get(..units)?, body.get(units..)?));
    }
    let mut left = units;
    let mut end = 0;
    for c in body.chars() {
        if left == 0 {
            break;
        }
        left = left.checked_sub(c.len_utf16())?;
        end += c.len_utf8();
    }
    if left != 0 {
        return None;
    }
    Some((body.get(..end)?, body.get(end..)?))
}

/// Every (key, value) pair of `packed`, or `None` when it is malformed anywhere (so that a
/// caller can refuse it before changing anything). `expected` (the facade's count of pairs)
/// only sizes the list, bounded by what the text could hold.
pub(crate) fn parse_entries(packed: &str, expected: u32) -> Option<Vec<(&str, &str)>> {
    let ascii = packed.is_ascii();
    // Each pair takes at least four bytes ("0:0:"), so a wrong count cannot reserve more.
    let mut entries = Vec::with_capacity((expected as usize).min(packed.len() / 4));
    let mut rest = packed;
    while !rest.is_empty() {
        let (key, after_key) = take_packed(rest, ascii)?;
        let (value, after_value) = take_packed(after_key, ascii)?;
        entries.push((key, value));
        rest = after_value;
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(parts: &[&str]) -> String {
        parts
            .iter()
            .map(|p| format!("{}:{p}", p.encode_utf16().count()))
            .collect()
    }

    #[test]
    fn ascii_and_wide_text_split_alike() {
        for parts in [
            &["a", "1", "theme", "dark"][..],
            &["é", "😀x", "k", ""],
            &["", ":", "3:", "0:"],
        ] {
            let packed = pack(parts);
            let flat: Option<Vec<&str>> = parse_entries(&packed, 2)
                .map(|entries| entries.iter().flat_map(|(k, v)| [*k, *v]).collect());
            assert_eq!(flat.as_deref(), Some(parts), "{packed:?}");
        }
    }

    #[test]
    fn malformed_packing_is_refused_whole() {
        for bad in [
            "1:a",
            "2:a1:b",
            "x:a1:b",
            "5:abc",
            "1:😀1:a",
            "1:a1:",
            "-1:a1:b",
        ] {
            assert_eq!(parse_entries(bad, 1), None, "{bad:?}");
        }
        assert_eq!(parse_entries("", u32::MAX), Some(vec![]));
    }

    #[test]
    fn a_count_out_of_proportion_reserves_only_what_the_text_can_hold() {
        let capacity = parse_entries("1:a1:b", u32::MAX).map(|entries| entries.capacity());
        assert!(capacity.is_some_and(|c| c <= 2));
    }
}
