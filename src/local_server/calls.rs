//! The calls the server understands, and what it counts per call since it started.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// The calls the server understands; faults and statistics are kept per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    PutBucket,
    PutObject,
    GetObject,
    HeadObject,
    DeleteObject,
    InitiateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    ListMultipartUploads,
    ListBuckets,
    GetBucketInfo,
    GetBucketLocation,
    PutBucketAcl,
    GetBucketAcl,
    ListObjects,
    ListObjectsV2,
}

impl Op {
    pub const ALL: [Op; 18] = [
        Op::PutBucket,
        Op::PutObject,
        Op::GetObject,
        Op::HeadObject,
        Op::DeleteObject,
        Op::InitiateMultipartUpload,
        Op::UploadPart,
        Op::CompleteMultipartUpload,
        Op::AbortMultipartUpload,
        Op::ListParts,
        Op::ListMultipartUploads,
        Op::ListBuckets,
        Op::GetBucketInfo,
        Op::GetBucketLocation,
        Op::PutBucketAcl,
        Op::GetBucketAcl,
        Op::ListObjects,
        Op::ListObjectsV2,
    ];

    /// The snake_case name used by the `--fault` flag and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Op::PutBucket => "put_bucket",
            Op::PutObject => "put_object",
            Op::GetObject => "get_object",
            Op::HeadObject => "head_object",
            Op::DeleteObject => "delete_object",
            Op::InitiateMultipartUpload => "initiate_multipart_upload",
            Op::UploadPart => "upload_part",
            Op::CompleteMultipartUpload => "complete_multipart_upload",
            Op::AbortMultipartUpload => "abort_multipart_upload",
            Op::ListParts => "list_parts",
            Op::ListMultipartUploads => "list_multipart_uploads",
            Op::ListBuckets => "list_buckets",
            Op::GetBucketInfo => "get_bucket_info",
            Op::GetBucketLocation => "get_bucket_location",
            Op::PutBucketAcl => "put_bucket_acl",
            Op::GetBucketAcl => "get_bucket_acl",
            Op::ListObjects => "list_objects",
            Op::ListObjectsV2 => "list_objects_v2",
        }
    }

    /// Reads a name as `name()` writes it, or a short form (`initiate`, `complete`, `abort`,
    /// `list_uploads`); `-` may stand for `_`.
    pub fn from_name(name: &str) -> Option<Op> {
        let name = name.trim().to_ascii_lowercase().replace('-', "_");
        let short = match name.as_str() {
            "initiate" => Some(Op::InitiateMultipartUpload),
            "complete" => Some(Op::CompleteMultipartUpload),
            "abort" => Some(Op::AbortMultipartUpload),
            "list_uploads" => Some(Op::ListMultipartUploads),
            "put" => Some(Op::PutObject),
            "get" => Some(Op::GetObject),
            "head" => Some(Op::HeadObject),
            "delete" => Some(Op::DeleteObject),
            _ => None,
        };
        short.or_else(|| Op::ALL.into_iter().find(|op| op.name() == name))
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A snapshot of what the server has seen since it started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests per call, including those answered by a fault.
    pub requests: BTreeMap<Op, u64>,
    /// Request body bytes read per call, including bodies later refused or dropped.
    pub body_bytes: BTreeMap<Op, u64>,
}

impl Stats {
    pub fn requests(&self, op: Op) -> u64 {
        self.requests.get(&op).copied().unwrap_or(0)
    }

    pub fn body_bytes(&self, op: Op) -> u64 {
        self.body_bytes.get(&op).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }
}

/// Live counters behind [`Stats`].
#[derive(Default)]
pub(crate) struct Counters {
    requests: [AtomicU64; Op::ALL.len()],
    body_bytes: [AtomicU64; Op::ALL.len()],
}

impl Counters {
    pub(crate) fn request(&self, op: Op) {
        self.requests[op.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self, op: Op) -> &AtomicU64 {
        &self.body_bytes[op.index()]
    }

    pub(super) fn snapshot(&self) -> Stats {
        let mut stats = Stats::default();
        for op in Op::ALL {
            let r = self.requests[op.index()].load(Ordering::Relaxed);
            let b = self.body_bytes[op.index()].load(Ordering::Relaxed);
            if r > 0 {
                stats.requests.insert(op, r);
            }
            if b > 0 {
                stats.body_bytes.insert(op, b);
            }
        }
        stats
    }
}
