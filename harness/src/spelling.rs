//! How far apart two words are in edits, for "did you mean" suggestions (profile keys,
//! `.dive-ci` keys, metric names in dashboards).

/// Levenshtein distance: insertions, deletions and substitutions of one character each.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn counts_single_character_edits() {
        assert_eq!(
            edit_distance("http_request_total", "http_requests_total"),
            1
        );
        assert_eq!(edit_distance("rollout", "rolout"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
