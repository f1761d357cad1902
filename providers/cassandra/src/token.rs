//! The Murmur3 token ring, split into ranges that scans read in parallel.

/// A range of tokens `(start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRange {
    /// Exclusive lower bound.
    pub start: i64,
    /// Inclusive upper bound.
    pub end: i64,
}

/// Splits the whole Murmur3 ring into `n` contiguous ranges of equal width.
///
/// The first range starts at `i64::MIN`, which Murmur3 never assigns to a
/// key, so `token > i64::MIN` loses nothing; the last ends at `i64::MAX`.
pub fn split_ring(n: usize) -> Vec<TokenRange> {
    let n = n.max(1) as i128;
    let min = i64::MIN as i128;
    let width = (i64::MAX as i128 - min) / n;
    (0..n)
        .map(|i| {
            let start = min + i * width;
            let end = if i == n - 1 {
                i64::MAX as i128
            } else {
                min + (i + 1) * width
            };
            TokenRange {
                start: start as i64,
                end: end as i64,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_the_ring_without_gaps_or_overlaps() {
        for n in [1, 2, 3, 16, 1000] {
            let ranges = split_ring(n);
            assert_eq!(ranges.len(), n);
            assert_eq!(ranges[0].start, i64::MIN);
            assert_eq!(ranges[n - 1].end, i64::MAX);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "contiguous");
                assert!(pair[0].start < pair[0].end);
            }
        }
        assert_eq!(split_ring(0).len(), 1);
    }
}
