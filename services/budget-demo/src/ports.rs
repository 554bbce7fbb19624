//! Where the demo's parts listen: each part's usual port when it is free, otherwise a port
//! the system picks, so a busy 4000 or 50051 does not stop the demo.

use std::net::{SocketAddr, TcpListener};

/// An address for one of the demo's parts, and the usual one it replaces when that was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub addr: SocketAddr,
    pub instead_of: Option<SocketAddr>,
}

/// `usual` when it can be bound now, else port 0 on the same IP (any free port). The check
/// binds and releases at once, so another program could take the port in between; starting
/// then fails with an error naming the address.
pub fn usual_or_free(usual: SocketAddr) -> Placement {
    match TcpListener::bind(usual) {
        Ok(_) => Placement {
            addr: usual,
            instead_of: None,
        },
        Err(_) => Placement {
            addr: SocketAddr::new(usual.ip(), 0),
            instead_of: Some(usual),
        },
    }
}

/// Exactly `addr`, as the user asked for it.
pub fn exactly(addr: SocketAddr) -> Placement {
    Placement {
        addr,
        instead_of: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_replaced_by_a_free_one() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = held.local_addr().unwrap();
        let placed = usual_or_free(taken);
        assert_eq!(placed.instead_of, Some(taken));
        assert_eq!(placed.addr, SocketAddr::new(taken.ip(), 0));

        drop(held);
        assert_eq!(
            usual_or_free(taken),
            exactly(taken),
            "free again: used as is"
        );
    }
}
