//! How many bytes this process's TCP sockets hold that the network has not yet taken (sent but
//! not acknowledged), for the pool's goodput: bytes count as sent when a socket takes them, and
//! a socket takes megabytes at once into its buffers when the next hop is close (a shaper, a
//! proxy or VPN on the same machine), then drains them at the link's pace. Bytes given to the
//! sockets minus the growth of what they hold is what the link carried.
//!
//! Linux only: the HTTP client does not hand out its sockets, so they are found among the
//! process's open files (`/proc/self/fd`) and each is asked for its send queue. Elsewhere the
//! pool goes by the bytes given to the sockets alone.

/// The bytes not yet acknowledged on this process's TCP connections, or `None` where that
/// cannot be read.
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

#[cfg(target_os = "linux")]
mod linux {
    use std::os::fd::RawFd;

    /// Each descriptor is asked directly (three system calls). Reading `/proc/net/tcp` instead
    /// walks every TCP socket of the machine's whole hash table on each read, which was 8 % of
    /// the client's CPU on a 1 GiB upload over loopback.
    pub(super) fn bytes() -> Option<u64> {
        let dir = std::fs::read_dir("/proc/self/fd").ok()?;
        Some(
            dir.flatten()
                .filter_map(|entry| entry.file_name().to_str()?.parse::<RawFd>().ok())
                .filter_map(held)
                .sum(),
        )
    }

    /// What a TCP socket holds unacknowledged, or `None` for any other descriptor. A
    /// descriptor closed (or even reused) since the listing only makes the calls fail or read
    /// another socket's figure: nothing here changes anything.
    pub(super) fn held(fd: RawFd) -> Option<u64> {
        if !is_tcp(fd) {
            return None;
        }
        let mut queued: libc::c_int = 0;
        // SAFETY: SIOCOUTQ (the same number as TIOCOUTQ) writes one int.
        let r = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut queued as *mut libc::c_int) };
        // A listening socket answers EINVAL.
        (r == 0).then_some(u64::try_from(queued).unwrap_or(0))
    }

    /// A stream socket on IPv4 or IPv6. The window's display connection is a (Unix) socket too,
    /// and what it holds is not upload.
    fn is_tcp(fd: RawFd) -> bool {
        let mut kind: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `kind` and the length into `len`.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                (&mut kind as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        if r != 0 || kind != libc::SOCK_STREAM {
            return false;
        }
        let mut addr = std::mem::MaybeUninit::<libc::sockaddr_storage>::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: getsockname writes at most `len` bytes of address into `addr`.
        let r = unsafe { libc::getsockname(fd, addr.as_mut_ptr().cast(), &mut len) };
        if r != 0 {
            return false;
        }
        // SAFETY: zeroed and then at most overwritten: every byte is initialised.
        let family = libc::c_int::from(unsafe { addr.assume_init() }.ss_family);
        family == libc::AF_INET || family == libc::AF_INET6
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::linux::held;

    #[test]
    fn bytes_a_tcp_socket_holds_are_seen_and_other_sockets_are_not() {
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
        let ours = held(out.as_raw_fd()).unwrap();
        assert!(ours > 0 && ours <= written as u64, "{ours} of {written}");
        assert!(super::bytes().unwrap() >= ours);
        assert_eq!(held(listener.as_raw_fd()), None, "a listening socket");

        // A Unix socket with unread bytes, and a plain file, are not TCP.
        let (mut unix, _other) = std::os::unix::net::UnixStream::pair().unwrap();
        unix.write_all(b"not an upload").unwrap();
        assert_eq!(held(unix.as_raw_fd()), None);
        let file = tempfile::tempfile().unwrap();
        assert_eq!(held(file.as_raw_fd()), None);
    }
}
