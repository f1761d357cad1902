//! The Murmur3 token ring, split into ranges that scans read in parallel.
//! Ranges follow the ring's own tokens, so each has one set of replicas.

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

/// Splits `bounds` into about `target` ranges that never cross a token of
/// the ring, so every range has one set of replicas.
///
/// Each stretch between two ring tokens gets a share of `target` by its
/// width (at least one range), so there are at least as many ranges as
/// stretches, and about `target` when that is more.
pub fn plan_splits(bounds: TokenRange, ring: &[i64], target: usize) -> Vec<TokenRange> {
    if bounds.is_empty() {
        return Vec::new();
    }
    let mut cuts: Vec<i64> = ring
        .iter()
        .copied()
        .filter(|t| *t > bounds.start && *t < bounds.end)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut stretches = Vec::with_capacity(cuts.len() + 1);
    let mut start = bounds.start;
    for cut in cuts {
        stretches.push(TokenRange { start, end: cut });
        start = cut;
    }
    stretches.push(TokenRange {
        start,
        end: bounds.end,
    });
    let width = |r: &TokenRange| i128::from(r.end) - i128::from(r.start);
    let total: i128 = stretches.iter().map(width).sum();
    let target = target.max(1) as i128;
    stretches
        .iter()
        .flat_map(|s| {
            let share = (target * width(s) + total - 1) / total;
            s.split(usize::try_from(share).unwrap_or(1).max(1))
        })
        .collect()
}

/// The fraction of the ring that `ranges` cover; a range whose start is
/// past its end wraps around the ring.
pub fn ring_fraction(ranges: &[TokenRange]) -> f64 {
    let ring = 2f64.powi(64);
    ranges
        .iter()
        .map(|r| {
            let width = i128::from(r.end) - i128::from(r.start);
            let width = if width <= 0 {
                width + (1i128 << 64)
            } else {
                width
            };
            width as f64 / ring
        })
        .sum::<f64>()
        .min(1.0)
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

    #[test]
    fn splits_follow_the_ring() {
        // Three tokens: four stretches of the ring.
        let ring = [-100, 0, 100];
        let splits = plan_splits(TokenRange::FULL, &ring, 1);
        assert_eq!(
            splits.iter().map(|r| r.end).collect::<Vec<_>>(),
            vec![-100, 0, 100, i64::MAX]
        );
        // More ranges than stretches: no range crosses a ring token.
        let splits = plan_splits(TokenRange::FULL, &ring, 64);
        assert!(splits.len() >= 64);
        for token in ring {
            assert!(splits.iter().any(|r| r.end == token));
            assert!(!splits.iter().any(|r| r.start < token && token < r.end));
        }
        for pair in splits.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "contiguous");
        }
        // Within token() bounds, only the ring tokens inside them cut.
        let bounded = plan_splits(
            TokenRange {
                start: -50,
                end: 50,
            },
            &ring,
            1,
        );
        assert_eq!(
            bounded,
            vec![
                TokenRange { start: -50, end: 0 },
                TokenRange { start: 0, end: 50 }
            ]
        );
        assert!(plan_splits(TokenRange { start: 5, end: 5 }, &ring, 4).is_empty());
        // An unknown ring splits evenly.
        assert_eq!(plan_splits(TokenRange::FULL, &[], 8), split_ring(8));
    }

    #[test]
    fn ring_fractions() {
        assert!((ring_fraction(&[TokenRange::FULL]) - 1.0).abs() < 1e-9);
        let half = TokenRange {
            start: 0,
            end: i64::MAX,
        };
        assert!((ring_fraction(&[half]) - 0.5).abs() < 1e-9);
        // Wrapping around: from 0 past the end back to 0 is the whole ring.
        let wrapped = TokenRange {
            start: i64::MAX / 2,
            end: i64::MIN / 2,
        };
        assert!((ring_fraction(&[wrapped]) - 0.5).abs() < 1e-9);
    }
}
