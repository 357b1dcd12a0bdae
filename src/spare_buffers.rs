//! Byte buffers kept for reuse, up to a budget: a fresh buffer is zeroed and faulted in, which
//! for every chunk of a large transfer cost more CPU than the work done on its bytes. Used by
//! the upload stream's chunks (`oss/chunks.rs`) and the local server's request bodies.

/// Spare buffers, each as long as the size asked for when it was put back.
pub struct SpareBuffers {
    bufs: Vec<Vec<u8>>,
    /// The most bytes kept.
    budget: usize,
}

impl SpareBuffers {
    pub const fn new(budget: usize) -> Self {
        Self {
            bufs: Vec::new(),
            budget,
        }
    }

    /// A buffer of `size` bytes, if one is spare. Buffers of another size are let go: they
    /// would hold more than is now wanted, or be too small.
    pub fn take(&mut self, size: usize) -> Option<Vec<u8>> {
        while let Some(buf) = self.bufs.pop() {
            if buf.len() == size {
                return Some(buf);
            }
        }
        None
    }

    /// Keeps a buffer that is no longer used, if it has the size buffers are wanted at now
    /// (`size`; `None` keeps nothing) and the spares stay within their budget.
    pub fn put_back(&mut self, buf: Vec<u8>, size: Option<usize>) {
        let kept: usize = self.bufs.iter().map(Vec::len).sum();
        if size == Some(buf.len()) && kept + buf.len() <= self.budget {
            self.bufs.push(buf);
        }
    }

    /// The buffers kept, most recently put back last.
    pub fn kept(&self) -> &[Vec<u8>] {
        &self.bufs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_buffers_are_reused_at_the_size_of_now_and_within_their_budget() {
        let budget = 300;
        let mut spare = SpareBuffers::new(budget);
        let buf = vec![0u8; 64];
        let ptr = buf.as_ptr();
        spare.put_back(buf, Some(64));
        let again = spare.take(64).expect("the spare buffer is reused");
        assert_eq!(again.as_ptr(), ptr);
        assert!(spare.take(64).is_none());

        // The size wanted is 32 now, and a 64-byte buffer is not kept...
        spare.put_back(again, Some(32));
        assert!(spare.kept().is_empty());
        // ...nor taken for a buffer of another size.
        spare.put_back(vec![0u8; 64], Some(64));
        assert!(spare.take(32).is_none());
        assert!(spare.kept().is_empty());

        // Nothing is kept when nothing is wanted.
        spare.put_back(vec![0u8; 64], None);
        assert!(spare.kept().is_empty());

        // The spares stay within their budget.
        let size = budget / 3;
        for _ in 0..5 {
            spare.put_back(vec![0u8; size], Some(size));
        }
        assert_eq!(spare.kept().len(), 3);
    }
}
