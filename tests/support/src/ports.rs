//! Free ports on the loopback interface.

use std::io;
use std::net::{Ipv4Addr, TcpListener};

/// Picks `N` distinct free TCP ports on 127.0.0.1.
///
/// All `N` are held open together while picking, so they differ; they are released before
/// this returns, so another process could take one before the component binds it. The
/// component then fails to start and says so in its log.
pub(crate) fn free_loopback_ports<const N: usize>() -> io::Result<[u16; N]> {
    let mut listeners = Vec::with_capacity(N);
    let mut ports = [0; N];
    for port in &mut ports {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        *port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_are_distinct_and_nonzero() {
        let ports = free_loopback_ports::<4>().expect("free ports");
        let mut unique = ports.to_vec();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 4);
        assert!(ports.iter().all(|&port| port != 0));
    }
}
