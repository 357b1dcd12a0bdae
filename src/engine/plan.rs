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

use crate::oss::limits::{self, InvalidInput, MAX_PART_SIZE, MAX_PARTS, MIB};

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
