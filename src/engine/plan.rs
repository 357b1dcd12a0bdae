//! Part planning: how a file of a given size is cut into the requests that upload it. Plain
//! arithmetic with no I/O, so the same inputs always give the same plan — which is what lets a
//! resumed upload trust the part boundaries recorded in its checkpoint.
//!
//! The rules:
//! - The requested part size must be within what OSS allows (100 KiB–5 GiB), or planning fails.
//! - A file no larger than one part (`size <= part_size`, so also an empty file) is sent with a
//!   single PutObject. At exactly one part, multipart would cost two extra calls
//!   (Initiate, Complete) and could leave an orphaned upload behind, while resuming would still
//!   have to re-send that one part from the start; PutObject is strictly better.
//! - A larger file is sent as a multipart upload. If the requested size would need more than
//!   10,000 parts, the part size is raised to the smallest multiple of 1 MiB that is at least
//!   `ceil(size / 10,000)`: a tidy number a person can read in a log, never below the request,
//!   and never more than needed. The plan records the size it was raised from.
//! - A file that needs more than 10,000 parts of 5 GiB (about 48.8 TiB) cannot be uploaded.
//! - When the user did not choose a part size ([`AUTO_PART_SIZE`]), [`automatic_part_size`]
//!   chooses one: 8 MiB at least, bigger parts for big files on a fast link. OSS needs every
//!   part but the last to be the same size, so a slow link cannot get small first parts and
//!   bigger later ones; it keeps 8 MiB. The size chosen is recorded in the checkpoint like a
//!   chosen one, so a resumed upload keeps its layout whatever the rule would choose now.

use crate::oss::limits::{
    self, AUTO_MAX_PARTS, AUTO_MIN_PARTS, AUTO_PART_SECONDS, AUTO_PART_SIZE, DEFAULT_PART_SIZE,
    InvalidInput, MAX_PART_SIZE, MAX_PARTS, MIB,
};

/// The smallest part [`automatic_part_size`] chooses: the default OSS users expect.
const SMALLEST_AUTOMATIC_PART: u64 = DEFAULT_PART_SIZE;

/// The part size for a file of `size` bytes when the user did not choose one. `per_request` is
/// the goodput of one request in bytes per second, when the engine has measured it.
///
/// Parts that take about [`AUTO_PART_SECONDS`] on one request (a fast link pays fewer round
/// trips and signatures), but at least [`AUTO_MIN_PARTS`] parts so one file can fill the pool of
/// requests, at most about [`AUTO_MAX_PARTS`] parts whatever the link, never below the 8 MiB
/// default and never above 5 GiB. Powers of two MiB, so the sizes read well in a log. Pure, so
/// the rule is tested without a network.
pub fn automatic_part_size(size: u64, per_request: Option<f64>) -> u64 {
    let for_link = per_request
        .filter(|rate| rate.is_finite() && *rate > 0.0)
        // `as` saturates: an absurd rate gives u64::MAX, capped below.
        .map_or(DEFAULT_PART_SIZE, |rate| {
            power_of_two_mib_at_most((rate * AUTO_PART_SECONDS) as u64)
        });
    let for_pool = power_of_two_mib_at_most(size / AUTO_MIN_PARTS);
    let for_count = power_of_two_mib_at_least(size.div_ceil(AUTO_MAX_PARTS));
    for_link
        .min(for_pool)
        .max(SMALLEST_AUTOMATIC_PART)
        .max(for_count)
        .min(MAX_PART_SIZE)
}

/// The largest power-of-two number of MiB not above `bytes` (1 MiB when `bytes` is less).
fn power_of_two_mib_at_most(bytes: u64) -> u64 {
    let mib = (bytes / MIB).max(1);
    (1u64 << (63 - mib.leading_zeros())).saturating_mul(MIB)
}

/// The smallest power-of-two number of MiB not below `bytes`.
fn power_of_two_mib_at_least(bytes: u64) -> u64 {
    bytes
        .div_ceil(MIB)
        .max(1)
        .checked_next_power_of_two()
        .map_or(u64::MAX, |n| n.saturating_mul(MIB))
}

/// Why a file cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    PartSize(#[from] InvalidInput),
    #[error(
        "The file is {size} bytes, more than OSS can hold in one object: at most 10,000 parts of \
         5 GiB (about 48.8 TiB). Split the file into smaller pieces and upload those."
    )]
    FileTooLarge { size: u64 },
}

/// How a file is uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadPlan {
    /// One PutObject carrying the whole file (possibly 0 bytes).
    Single { size: u64 },
    /// A multipart upload of `part_count` parts; all but the last are `part_size` bytes.
    /// `raised_from` holds the requested part size when it had to be raised to stay within
    /// 10,000 parts.
    Multipart {
        size: u64,
        part_size: u64,
        part_count: u32,
        raised_from: Option<u64>,
    },
}

/// One piece of the file: part `number` (from 1) covers `len` bytes starting at `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartRange {
    pub number: u32,
    pub offset: u64,
    pub len: u64,
}

impl PartRange {
    /// The offset just past this part.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

impl UploadPlan {
    /// Plans the upload of a file of `size` bytes with parts of `requested_part_size` bytes.
    pub fn new(size: u64, requested_part_size: u64) -> Result<Self, PlanError> {
        limits::validate_part_size(requested_part_size)?;
        if size <= requested_part_size {
            return Ok(Self::Single { size });
        }
        let (part_size, raised_from) = if size.div_ceil(requested_part_size) > u64::from(MAX_PARTS)
        {
            let smallest = size.div_ceil(u64::from(MAX_PARTS));
            let tidy = smallest.div_ceil(MIB).saturating_mul(MIB);
            if tidy > MAX_PART_SIZE {
                return Err(PlanError::FileTooLarge { size });
            }
            (tidy, Some(requested_part_size))
        } else {
            (requested_part_size, None)
        };
        // At most MAX_PARTS by construction above, so the conversion cannot fail; the error arm
        // keeps that reasoning checked rather than assumed.
        let part_count = u32::try_from(size.div_ceil(part_size))
            .ok()
            .filter(|&n| n <= MAX_PARTS)
            .ok_or(PlanError::FileTooLarge { size })?;
        Ok(Self::Multipart {
            size,
            part_size,
            part_count,
            raised_from,
        })
    }

    /// Plans a job's file: with the part size asked for, or, when that is [`AUTO_PART_SIZE`],
    /// with [`automatic_part_size`] for the goodput of one request measured so far.
    pub fn for_job(size: u64, asked: u64, per_request: Option<f64>) -> Result<Self, PlanError> {
        if asked == AUTO_PART_SIZE {
            Self::new(size, automatic_part_size(size, per_request))
        } else {
            Self::new(size, asked)
        }
    }

    /// Whether a file of `size` bytes goes in one PutObject whatever the link measures: every
    /// plan [`UploadPlan::for_job`] could make for it is [`UploadPlan::Single`]. `false` when
    /// the part size asked for is not valid, so that [`UploadPlan::for_job`] reports it.
    pub fn always_whole(size: u64, asked: u64) -> bool {
        let smallest_part = if asked == AUTO_PART_SIZE {
            SMALLEST_AUTOMATIC_PART
        } else if limits::validate_part_size(asked).is_ok() {
            asked
        } else {
            return false;
        };
        size <= smallest_part
    }

    /// The file size the plan covers.
    pub fn size(&self) -> u64 {
        match *self {
            Self::Single { size } | Self::Multipart { size, .. } => size,
        }
    }

    /// How many requests carry the file's bytes: 1 for a single PutObject.
    pub fn part_count(&self) -> u32 {
        match *self {
            Self::Single { .. } => 1,
            Self::Multipart { part_count, .. } => part_count,
        }
    }

    /// The size of every part but the last; for a single PutObject, the file size.
    pub fn part_size(&self) -> u64 {
        match *self {
            Self::Single { size } => size,
            Self::Multipart { part_size, .. } => part_size,
        }
    }

    /// The part size the caller asked for, when planning had to raise it.
    pub fn raised_from(&self) -> Option<u64> {
        match *self {
            Self::Single { .. } => None,
            Self::Multipart { raised_from, .. } => raised_from,
        }
    }

    pub fn is_multipart(&self) -> bool {
        matches!(self, Self::Multipart { .. })
    }

    /// Part `number` (1-based), or `None` outside `1..=part_count`. A single PutObject has one
    /// part, number 1, covering the whole file, so callers can treat both plans alike.
    pub fn part(&self, number: u32) -> Option<PartRange> {
        if number == 0 || number > self.part_count() {
            return None;
        }
        let part_size = self.part_size();
        let offset = u64::from(number - 1) * part_size;
        let len = part_size.min(self.size() - offset);
        Some(PartRange {
            number,
            offset,
            len,
        })
    }

    /// All parts in order.
    pub fn parts(&self) -> Parts {
        Parts {
            plan: *self,
            next: 1,
        }
    }
}

/// The parts of a plan, in order. Created by [`UploadPlan::parts`].
#[derive(Clone, Debug)]
pub struct Parts {
    plan: UploadPlan,
    next: u32,
}

impl Iterator for Parts {
    type Item = PartRange;

    fn next(&mut self) -> Option<PartRange> {
        let part = self.plan.part(self.next)?;
        self.next += 1;
        Some(part)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.plan.part_count() + 1).saturating_sub(self.next) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for Parts {}

impl std::iter::FusedIterator for Parts {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oss::limits::{DEFAULT_PART_SIZE, GIB, KIB, MIN_PART_SIZE};
    use proptest::prelude::*;

    #[test]
    fn empty_file_is_a_single_put_of_zero_bytes() {
        let plan = UploadPlan::new(0, DEFAULT_PART_SIZE).unwrap();
        assert_eq!(plan, UploadPlan::Single { size: 0 });
        assert_eq!(
            plan.parts().collect::<Vec<_>>(),
            [PartRange {
                number: 1,
                offset: 0,
                len: 0
            }]
        );
    }

    #[test]
    fn one_part_or_less_is_a_single_put() {
        for size in [1, DEFAULT_PART_SIZE - 1, DEFAULT_PART_SIZE] {
            assert_eq!(
                UploadPlan::new(size, DEFAULT_PART_SIZE).unwrap(),
                UploadPlan::Single { size }
            );
        }
        let plan = UploadPlan::new(DEFAULT_PART_SIZE + 1, DEFAULT_PART_SIZE).unwrap();
        assert_eq!(
            plan,
            UploadPlan::Multipart {
                size: DEFAULT_PART_SIZE + 1,
                part_size: DEFAULT_PART_SIZE,
                part_count: 2,
                raised_from: None
            }
        );
        assert_eq!(
            plan.part(2),
            Some(PartRange {
                number: 2,
                offset: DEFAULT_PART_SIZE,
                len: 1
            })
        );
        assert_eq!(plan.part(0), None);
        assert_eq!(plan.part(3), None);
    }

    #[test]
    fn part_size_outside_limits_is_refused_with_a_clear_message() {
        for bad in [0, MIN_PART_SIZE - 1, MAX_PART_SIZE + 1] {
            let err = UploadPlan::new(10 * MIB, bad).unwrap_err();
            assert_eq!(err, PlanError::PartSize(InvalidInput::PartSize(bad)));
            assert!(err.to_string().contains("100 KiB"), "{err}");
        }
    }

    #[test]
    fn exactly_ten_thousand_parts_is_not_raised() {
        let plan = UploadPlan::new(10_000 * MIN_PART_SIZE, MIN_PART_SIZE).unwrap();
        assert_eq!(plan.part_count(), 10_000);
        assert_eq!(plan.raised_from(), None);
    }

    #[test]
    fn raised_to_the_smallest_whole_mib_that_fits() {
        // One byte more than 10,000 parts of 100 KiB: ceil(size / 10,000) is 100 KiB + 1 byte,
        // and the next whole MiB is 1 MiB.
        let size = 10_000 * MIN_PART_SIZE + 1;
        let plan = UploadPlan::new(size, MIN_PART_SIZE).unwrap();
        assert_eq!(plan.part_size(), MIB);
        assert_eq!(plan.raised_from(), Some(MIN_PART_SIZE));
        assert_eq!(
            plan.part_count(),
            u32::try_from(size.div_ceil(MIB)).unwrap()
        );

        // 100 GiB at the 8 MiB default needs 12,800 parts; 100 GiB / 10,000 = 10.24 MiB → 11 MiB.
        let plan = UploadPlan::new(100 * GIB, DEFAULT_PART_SIZE).unwrap();
        assert_eq!(plan.part_size(), 11 * MIB);
        assert_eq!(plan.raised_from(), Some(DEFAULT_PART_SIZE));
        assert_eq!(plan.part_count(), 9_310);
    }

    #[test]
    fn largest_file_fits_and_one_byte_more_does_not() {
        let max = u64::from(MAX_PARTS) * MAX_PART_SIZE;
        let plan = UploadPlan::new(max, DEFAULT_PART_SIZE).unwrap();
        assert_eq!(plan.part_size(), MAX_PART_SIZE);
        assert_eq!(plan.part_count(), MAX_PARTS);
        assert_eq!(plan.part(MAX_PARTS).unwrap().len, MAX_PART_SIZE);

        let err = UploadPlan::new(max + 1, DEFAULT_PART_SIZE).unwrap_err();
        assert_eq!(err, PlanError::FileTooLarge { size: max + 1 });
        assert!(err.to_string().contains("48.8 TiB"), "{err}");
        assert!(UploadPlan::new(u64::MAX, MAX_PART_SIZE).is_err());
    }

    const FAST: Option<f64> = Some(1e9);

    #[test]
    fn automatic_keeps_eight_mib_unless_the_file_and_the_link_both_allow_more() {
        // Nothing measured yet, a slow link or a small file: the 8 MiB floor.
        for (size, rate) in [
            (GIB, None),
            (10 * GIB, Some(200.0 * KIB as f64)),
            (256 * MIB, FAST),
            (512 * MIB, FAST),
            (9 * MIB, FAST),
        ] {
            assert_eq!(
                automatic_part_size(size, rate),
                DEFAULT_PART_SIZE,
                "{size} at {rate:?}"
            );
        }
        // 3 MB/s per request (24 Mbit/s): 12 MB takes 4 s, so 8 MiB parts.
        assert_eq!(automatic_part_size(10 * GIB, Some(3e6)), 8 * MIB);
        // 30 MB/s per request: 120 MB, down to a power of two: 64 MiB.
        assert_eq!(automatic_part_size(10 * GIB, Some(3e7)), 64 * MIB);
        // A fast link, but one file must keep 64 parts to fill the pool: 1 GiB → 16 MiB.
        assert_eq!(automatic_part_size(GIB, FAST), 16 * MIB);
        assert_eq!(automatic_part_size(4 * GIB, FAST), 64 * MIB);
        // However fast, never above 5 GiB.
        assert_eq!(
            automatic_part_size(40 * 1024 * GIB, Some(f64::MAX)),
            MAX_PART_SIZE
        );
        // Nonsense measurements count as none.
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(automatic_part_size(10 * GIB, Some(rate)), DEFAULT_PART_SIZE);
        }
    }

    #[test]
    fn automatic_keeps_the_part_count_reasonable_on_any_link() {
        // 100 GiB with nothing measured: 8 MiB would be 12,800 parts; 100 GiB / 2,000 is
        // 51.2 MiB, so 64 MiB parts (1,600).
        let plan = UploadPlan::for_job(100 * GIB, AUTO_PART_SIZE, None).unwrap();
        assert_eq!(plan.part_size(), 64 * MIB);
        assert_eq!(plan.part_count(), 1_600);
        // The automatic choice is never "raised": no notice about a size nobody asked for.
        assert_eq!(plan.raised_from(), None);
        // The largest file OSS holds: 5 GiB parts, 10,000 of them.
        let max = u64::from(MAX_PARTS) * MAX_PART_SIZE;
        let plan = UploadPlan::for_job(max, AUTO_PART_SIZE, None).unwrap();
        assert_eq!(plan.part_size(), MAX_PART_SIZE);
        assert!(UploadPlan::for_job(max + 1, AUTO_PART_SIZE, None).is_err());
    }

    #[test]
    fn a_size_the_user_chose_always_wins() {
        let plan = UploadPlan::for_job(10 * GIB, 5 * MIB, FAST).unwrap();
        assert_eq!(plan.part_size(), 5 * MIB);
        let plan = UploadPlan::for_job(10 * GIB, DEFAULT_PART_SIZE, FAST).unwrap();
        assert_eq!(plan.part_size(), DEFAULT_PART_SIZE);
        // Up to 8 MiB a file goes in one PutObject, chosen or not.
        assert_eq!(
            UploadPlan::for_job(DEFAULT_PART_SIZE, AUTO_PART_SIZE, FAST).unwrap(),
            UploadPlan::Single {
                size: DEFAULT_PART_SIZE
            }
        );
    }

    #[test]
    fn iterator_reports_its_length() {
        let plan = UploadPlan::new(10 * MIB + 5, MIB).unwrap();
        let mut parts = plan.parts();
        assert_eq!(parts.len(), 11);
        parts.next();
        assert_eq!(parts.len(), 10);
        assert_eq!(parts.last().unwrap().len, 5);
    }

    fn check_plan(size: u64, requested: u64) -> Result<(), TestCaseError> {
        let plan = match UploadPlan::new(size, requested) {
            Ok(plan) => plan,
            Err(PlanError::FileTooLarge { .. }) => {
                prop_assert!(size > u64::from(MAX_PARTS) * MAX_PART_SIZE);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        prop_assert_eq!(plan.size(), size);
        let parts: Vec<_> = plan.parts().collect();
        prop_assert_eq!(parts.len(), plan.part_count() as usize);
        prop_assert!(!parts.is_empty() && parts.len() <= MAX_PARTS as usize);
        match plan {
            UploadPlan::Single { .. } => {
                prop_assert!(size <= requested);
                prop_assert_eq!(
                    parts[0],
                    PartRange {
                        number: 1,
                        offset: 0,
                        len: size
                    }
                );
            }
            UploadPlan::Multipart {
                part_size,
                raised_from,
                ..
            } => {
                prop_assert!(size > part_size);
                prop_assert!((MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size));
                prop_assert!(part_size >= requested);
                match raised_from {
                    None => prop_assert_eq!(part_size, requested),
                    Some(from) => {
                        prop_assert_eq!(from, requested);
                        prop_assert_eq!(part_size % MIB, 0);
                        // The smallest such multiple: one MiB less would not fit.
                        prop_assert!((part_size - MIB) * u64::from(MAX_PARTS) < size);
                    }
                }
                let mut offset = 0;
                for (i, part) in parts.iter().enumerate() {
                    prop_assert_eq!(part.number as usize, i + 1);
                    prop_assert_eq!(part.offset, offset);
                    prop_assert!(part.len > 0);
                    if i + 1 < parts.len() {
                        prop_assert_eq!(part.len, part_size);
                    } else {
                        prop_assert!(part.len <= part_size);
                    }
                    prop_assert_eq!(plan.part(part.number), Some(*part));
                    offset = part.end();
                }
                prop_assert_eq!(offset, size);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn parts_cover_the_file_exactly(
            size in prop_oneof![
                0..=64 * MIB,
                0..=2 * GIB,
                0..=u64::from(MAX_PARTS) * MAX_PART_SIZE + GIB,
            ],
            requested in prop_oneof![MIN_PART_SIZE..=16 * MIB, MIN_PART_SIZE..=MAX_PART_SIZE],
        ) {
            check_plan(size, requested)?;
        }

        /// Whatever the file and the link, the automatic size is one OSS takes, at least
        /// 8 MiB, within 10,000 parts when the file fits at all, and planning with it gives
        /// back exactly that size (which is what lets a checkpoint record it like a chosen one).
        #[test]
        fn automatic_sizes_are_valid_and_plan_to_themselves(
            size in prop_oneof![0..=64 * MIB, 0..=2 * GIB, 0..=u64::from(MAX_PARTS) * MAX_PART_SIZE],
            rate in proptest::option::of(prop_oneof![0.0..1e6f64, 0.0..1e12f64]),
        ) {
            let auto = automatic_part_size(size, rate);
            prop_assert!((DEFAULT_PART_SIZE..=MAX_PART_SIZE).contains(&auto));
            prop_assert!(auto.is_multiple_of(MIB));
            let plan = UploadPlan::for_job(size, AUTO_PART_SIZE, rate).unwrap();
            if plan.is_multipart() {
                prop_assert_eq!(plan.part_size(), auto);
                prop_assert_eq!(plan.raised_from(), None);
                prop_assert_eq!(UploadPlan::new(size, auto).unwrap(), plan);
            }
            check_plan(size, auto)?;
        }

        /// A job may skip the resume record's lock only for a file that no plan, on any link,
        /// would send in parts; and it must not skip it for any file that one could.
        #[test]
        fn always_whole_means_every_plan_is_single(
            size in prop_oneof![0..=16 * MIB, 0..=2 * GIB],
            asked in prop_oneof![
                Just(AUTO_PART_SIZE),
                MIN_PART_SIZE..=16 * MIB,
                Just(MIN_PART_SIZE - 1),
                Just(MAX_PART_SIZE + 1),
            ],
            rate in proptest::option::of(prop_oneof![0.0..1e6f64, 0.0..1e12f64]),
        ) {
            let whole = UploadPlan::always_whole(size, asked);
            match UploadPlan::for_job(size, asked, rate) {
                Ok(plan) if whole => prop_assert!(!plan.is_multipart()),
                // Before anything is measured, such a file is already sent in parts.
                Ok(_) => prop_assert!(UploadPlan::for_job(size, asked, None).unwrap().is_multipart()),
                Err(_) => prop_assert!(!whole),
            }
        }

        #[test]
        fn near_the_boundaries(
            parts in 9_990u64..=10_010,
            requested in prop_oneof![Just(MIN_PART_SIZE), Just(DEFAULT_PART_SIZE), Just(MAX_PART_SIZE), MIN_PART_SIZE..=MAX_PART_SIZE],
            delta in -2i64..=2,
        ) {
            let size = (parts * requested).saturating_add_signed(delta);
            check_plan(size, requested)?;
        }
    }

    #[test]
    fn small_sizes_exhaustively_around_one_part() {
        for size in (MIN_PART_SIZE - 3)..=(MIN_PART_SIZE + 3) {
            check_plan(size, MIN_PART_SIZE).unwrap();
        }
        for size in [
            2 * KIB,
            3 * MIN_PART_SIZE - 1,
            3 * MIN_PART_SIZE,
            3 * MIN_PART_SIZE + 1,
        ] {
            check_plan(size, MIN_PART_SIZE).unwrap();
        }
    }
}
