//! ANSI colour, written the same way by every tool (only when
//! [`crate::UiArgs`] says to colour).

use crate::hash::fnv1a64;

/// SGR colour codes for names: green, yellow, blue, magenta, cyan, red.
const PALETTE: [&str; 6] = ["32", "33", "34", "35", "36", "31"];

/// Appends the escape that starts SGR `code` (`"31"` is red).
pub fn push_sgr(buf: &mut Vec<u8>, code: &str) {
    buf.extend_from_slice(b"\x1b[");
    buf.extend_from_slice(code.as_bytes());
    buf.push(b'm');
}

/// Appends the escape that resets colours.
pub fn push_reset(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"\x1b[0m");
}

/// The palette colour of `name`: the same name always gets the same colour.
pub fn name_color(name: &[u8]) -> &'static str {
    let slot = fnv1a64(name) % PALETTE.len() as u64;
    PALETTE[usize::try_from(slot).unwrap_or(0)]
}

/// Appends `name`, in its palette colour when `color`.
pub fn push_name(buf: &mut Vec<u8>, name: &str, color: bool) {
    if color {
        push_sgr(buf, name_color(name.as_bytes()));
        buf.extend_from_slice(name.as_bytes());
        push_reset(buf);
    } else {
        buf.extend_from_slice(name.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_its_colour_and_plain_stays_plain() {
        let mut a = Vec::new();
        push_name(&mut a, "web1", true);
        let mut b = Vec::new();
        push_name(&mut b, "web1", true);
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.starts_with("\x1b[3") && text.ends_with("web1\x1b[0m"),
            "{text:?}"
        );
        let mut plain = Vec::new();
        push_name(&mut plain, "web1", false);
        assert_eq!(plain, b"web1");
        let colours: std::collections::HashSet<&str> = (0..64)
            .map(|i| name_color(format!("host{i}").as_bytes()))
            .collect();
        assert!(colours.len() > 1, "names spread over the palette");
    }
}
