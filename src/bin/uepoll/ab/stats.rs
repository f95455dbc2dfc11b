//! Medians, the ratio of an engine's median to the baseline's, its 95% bootstrap
//! interval and the verdict.

/// The median (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

pub fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::min)
}

pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::max)
}

/// splitmix64: a small, fixed-seed generator, so that the same figures always give the
/// same interval.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is a run count (at most 1000): the modulo bias is far below the noise.
        (self.next() % n as u64) as usize
    }
}

/// Resamples drawn for each interval.
pub const RESAMPLES: usize = 10_000;
const SEED: u64 = 0x7565_706f_6c6c; // "uepoll"

/// The 95% percentile-bootstrap interval of median(other) / median(base): each
/// resample draws both sides' runs with replacement. None with fewer than two runs on
/// either side (there is nothing to resample) or when the baseline's resampled
/// medians are mostly zero.
pub fn ratio_ci(base: &[f64], other: &[f64]) -> Option<(f64, f64)> {
    if base.len() < 2 || other.len() < 2 {
        return None;
    }
    let mut rng = SplitMix(SEED);
    let mut ratios = Vec::with_capacity(RESAMPLES);
    let (mut b, mut o) = (vec![0.0; base.len()], vec![0.0; other.len()]);
    for _ in 0..RESAMPLES {
        for x in b.iter_mut() {
            *x = base[rng.below(base.len())];
        }
        for x in o.iter_mut() {
            *x = other[rng.below(other.len())];
        }
        let mb = median(&b);
        if mb != 0.0 {
            ratios.push(median(&o) / mb);
        }
    }
    if ratios.len() < RESAMPLES / 2 {
        return None;
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        let pos = q * (ratios.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        ratios[lo] + (ratios[hi] - ratios[lo]) * (pos - lo as f64)
    };
    Some((at(0.025), at(0.975)))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Baseline,
    Better,
    Worse,
    NoClearDifference,
    /// One run, or a figure missing: no interval to judge by.
    Undecided,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Baseline => "baseline",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
            Verdict::NoClearDifference => "no clear difference",
            Verdict::Undecided => "undecided",
        }
    }
}

/// Better or worse only when the whole interval is on one side of 1.
pub fn verdict(ci: Option<(f64, f64)>, higher_is_better: bool) -> Verdict {
    match ci {
        None => Verdict::Undecided,
        Some((lo, hi)) if lo <= 1.0 && hi >= 1.0 => Verdict::NoClearDifference,
        Some((lo, _)) if (lo > 1.0) == higher_is_better => Verdict::Better,
        Some(_) => Verdict::Worse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!((min(&[2.0, 1.0, 3.0]), max(&[2.0, 1.0, 3.0])), (1.0, 3.0));
    }

    #[test]
    fn intervals_and_verdicts() {
        let base = [100.0, 101.0, 99.0, 100.5, 99.5];
        let twice = [200.0, 203.0, 198.0, 201.0, 199.0];
        let (lo, hi) = ratio_ci(&base, &twice).unwrap();
        assert!(lo > 1.9 && hi < 2.1 && lo <= hi, "{lo} {hi}");
        assert_eq!(ratio_ci(&base, &twice), Some((lo, hi)), "deterministic");
        assert_eq!(verdict(Some((lo, hi)), true), Verdict::Better);
        assert_eq!(verdict(Some((lo, hi)), false), Verdict::Worse);
        let same = [100.2, 99.8, 100.9, 99.1, 100.0];
        let ci = ratio_ci(&base, &same).unwrap();
        assert!(ci.0 < 1.0 && ci.1 > 1.0, "{ci:?}");
        assert_eq!(verdict(Some(ci), true), Verdict::NoClearDifference);
        assert_eq!(ratio_ci(&base, &[1.0]), None);
        assert_eq!(verdict(None, true), Verdict::Undecided);
        assert_eq!(ratio_ci(&[0.0, 0.0], &[1.0, 2.0]), None);
    }
}
