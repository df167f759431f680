//! Kubernetes resource quantities (`200m`, `0.5`, `250Mi`, `1G`) as comparable numbers.

/// CPU in millicores. Besides `m`, the metrics API reports `n` (nanocores) and `u`.
pub fn cpu_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    for (suffix, per_milli) in [("m", 1.0), ("u", 1e3), ("n", 1e6)] {
        if let Some(amount) = text.strip_suffix(suffix) {
            return amount
                .parse::<f64>()
                .ok()
                .filter(|a| *a >= 0.0)
                .map(|a| (a / per_milli).round() as u64);
        }
    }
    let cores: f64 = text.parse().ok()?;
    (cores >= 0.0).then(|| (cores * 1000.0).round() as u64)
}

/// Memory in bytes.
pub fn memory_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("K", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number
                .parse::<f64>()
                .ok()
                .filter(|n| *n >= 0.0)
                .map(|n| (n * factor) as u64);
        }
    }
    if let Some(millis) = text.strip_suffix('m') {
        return millis.parse::<f64>().ok().map(|m| (m / 1000.0) as u64);
    }
    text.parse::<f64>()
        .ok()
        .filter(|n| *n >= 0.0)
        .map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu() {
        assert_eq!(cpu_millis("200m"), Some(200));
        assert_eq!(cpu_millis("0.5"), Some(500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("1.5m"), Some(2));
        assert_eq!(cpu_millis("lots"), None);
        assert_eq!(cpu_millis("-1"), None);
        // What the metrics API reports.
        assert_eq!(cpu_millis("935123456n"), Some(935));
        assert_eq!(cpu_millis("1500u"), Some(2));
        assert_eq!(cpu_millis("-5n"), None);
    }

    #[test]
    fn memory() {
        assert_eq!(memory_bytes("250Mi"), Some(250 * 1024 * 1024));
        assert_eq!(memory_bytes("1Gi"), Some(1 << 30));
        assert_eq!(memory_bytes("500M"), Some(500_000_000));
        assert_eq!(memory_bytes("128974848"), Some(128_974_848));
        assert_eq!(memory_bytes("1e3"), Some(1000));
        assert_eq!(memory_bytes("12Qi"), None);
    }
}
