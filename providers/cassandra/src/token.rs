//! The Murmur3 token ring, split into ranges that scans read in parallel.

/// A range of tokens `(start, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRange {
    /// Exclusive lower bound.
    pub start: i64,
    /// Inclusive upper bound.
    pub end: i64,
}

impl TokenRange {
    /// The whole ring. It starts at `i64::MIN`, which Murmur3 never assigns
    /// to a key, so `token > i64::MIN` loses nothing.
    pub const FULL: TokenRange = TokenRange {
        start: i64::MIN,
        end: i64::MAX,
    };

    /// Whether no token lies in the range.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The part of this range that `other` also covers.
    pub fn intersect(&self, other: &TokenRange) -> TokenRange {
        TokenRange {
            start: self.start.max(other.start),
            end: self.end.min(other.end),
        }
    }

    /// Splits the range into at most `n` contiguous ranges of equal width.
    pub fn split(&self, n: usize) -> Vec<TokenRange> {
        if self.is_empty() {
            return Vec::new();
        }
        let (start, end) = (i128::from(self.start), i128::from(self.end));
        let n = (n.max(1) as i128).min(end - start);
        let width = (end - start) / n;
        (0..n)
            .map(|i| TokenRange {
                start: (start + i * width) as i64,
                end: if i == n - 1 {
                    self.end
                } else {
                    (start + (i + 1) * width) as i64
                },
            })
            .collect()
    }
}

/// Splits the whole Murmur3 ring into `n` contiguous ranges of equal width.
pub fn split_ring(n: usize) -> Vec<TokenRange> {
    TokenRange::FULL.split(n)
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

    #[test]
    fn small_and_empty_ranges() {
        let r = TokenRange { start: 10, end: 13 };
        let parts = r.split(64);
        assert_eq!(parts.len(), 3, "no range narrower than one token");
        assert_eq!(parts[0].start, 10);
        assert_eq!(parts[2].end, 13);
        assert!(TokenRange { start: 5, end: 5 }.split(4).is_empty());
        let cut = TokenRange::FULL.intersect(&TokenRange {
            start: -1,
            end: 100,
        });
        assert_eq!(
            cut,
            TokenRange {
                start: -1,
                end: 100
            }
        );
    }
}
