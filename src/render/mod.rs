//! What the binary shows: the library returns results and tells an observer as it goes;
//! these turn them into lines, a progress bar, or `--json`. Human text goes to stderr (a
//! dry run's plan to stdout), so that stdout stays parseable.

pub mod get;
pub mod post;

/// `1.5 KiB`: sizes for people.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A config's note (a script left to librec-auto or switched off), as it is found.
pub fn note(note: String) {
    eprintln!("note: {note}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(300 * 1024 * 1024), "300.0 MiB");
    }
}
