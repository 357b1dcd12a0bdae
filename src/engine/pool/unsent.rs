//! How many bytes this process's TCP sockets hold that the network has not yet taken (sent but
//! not acknowledged), for the pool's goodput: bytes count as sent when a socket takes them, and
//! a socket takes megabytes at once into its buffers when the next hop is close (a shaper, a
//! proxy or VPN on the same machine), then drains them at the link's pace. Bytes given to the
//! sockets minus the growth of what they hold is what the link carried.
//!
//! Linux only, from `/proc` (the HTTP client does not hand out its sockets): elsewhere the pool
//! goes by the bytes given to the sockets alone.

/// The bytes not yet acknowledged on this process's established TCP connections, or `None`
/// where that cannot be read.
pub fn bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        linux::bytes()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(any(target_os = "linux", test))]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
mod linux {
    use std::collections::HashSet;

    pub(super) fn bytes() -> Option<u64> {
        let inodes = own_sockets()?;
        if inodes.is_empty() {
            return Some(0);
        }
        let mut total = None;
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            // A kernel without IPv6 has no tcp6 table.
            if let Ok(text) = std::fs::read_to_string(table) {
                *total.get_or_insert(0) += queued(&text, &inodes);
            }
        }
        total
    }

    /// The inodes of the sockets this process has open.
    fn own_sockets() -> Option<HashSet<u64>> {
        let dir = std::fs::read_dir("/proc/self/fd").ok()?;
        Some(
            dir.flatten()
                .filter_map(|entry| std::fs::read_link(entry.path()).ok())
                .filter_map(|target| socket_inode(&target.to_string_lossy()))
                .collect(),
        )
    }

    /// `socket:[12345]` → 12345.
    pub(super) fn socket_inode(link: &str) -> Option<u64> {
        link.strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    }

    /// The send queues (`tx_queue`) of the established connections among `inodes` in a
    /// `/proc/net/tcp`-style table.
    pub(super) fn queued(table: &str, inodes: &HashSet<u64>) -> u64 {
        const ESTABLISHED: &str = "01";
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (state, queues, inode) = (fields.get(3)?, fields.get(4)?, fields.get(9)?);
                if *state != ESTABLISHED || !inodes.contains(&inode.parse().ok()?) {
                    return None;
                }
                let (tx, _rx) = queues.split_once(':')?;
                u64::from_str_radix(tx, 16).ok()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::linux::{queued, socket_inode};

    #[test]
    fn the_send_queues_of_own_established_connections_are_summed() {
        // Three connections: two of ours (one established, one closing), one of another
        // process; a listening socket of ours.
        let table = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 003D0900:00000000 01:00000014 00000000     0        0 101 2 0 20 4 30 10 -1
   2: 0100007F:9C42 0100007F:1F90 08 00001000:00000000 00:00000000 00000000     0        0 102 1 0 20 4 30 10 -1
   3: 0100007F:9C44 0100007F:1F90 01 00100000:00000000 00:00000000 00000000     0        0 200 1 0 20 4 30 10 -1
";
        let ours = [100, 101, 102].into_iter().collect();
        assert_eq!(queued(table, &ours), 0x3D0900);
        assert_eq!(socket_inode("socket:[101]"), Some(101));
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn bytes_a_socket_holds_are_seen() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        // A peer that never reads: what is written stays in the queues.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut out = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        out.set_nonblocking(true).unwrap();
        let mut written = 0;
        let chunk = vec![0u8; 64 << 10];
        while written < 16 << 20 {
            match out.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        // Part sits in the peer's receive buffer (acknowledged), the rest in our send queue.
        let link = std::fs::read_link(format!("/proc/self/fd/{}", out.as_raw_fd())).unwrap();
        let inode = socket_inode(&link.to_string_lossy()).unwrap();
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let ours = [inode].into_iter().collect();
        let held = queued(&table, &ours);
        assert!(held > 0 && held <= written as u64, "{held} of {written}");
        assert!(super::bytes().unwrap() >= held);
    }
}
