//! `hostPort` mappings, as CNI's `portmap` plugin provides them with DNAT rules: while a sandbox
//! lives, a TCP forwarder listens on `nodeIP:hostPort` and relays each connection to the pod's
//! address. labsim has no iptables, so the forwarder is a userspace relay in the runtime.

use std::net::{Ipv4Addr, SocketAddrV4};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running forwarder; stops when dropped.
#[derive(Debug)]
pub struct Forwarder {
    /// Where it listens.
    pub listen: SocketAddrV4,
    /// Where it forwards to.
    pub target: SocketAddrV4,
    task: JoinHandle<()>,
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts forwarding `listen` to `target`.
///
/// # Errors
/// The bind error (address in use, or a port below 1024 without root).
pub async fn forward(listen: SocketAddrV4, target: SocketAddrV4) -> std::io::Result<Forwarder> {
    let listener = TcpListener::bind(listen).await?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                // A pod that does not listen refuses the connection, which the client sees
                // as a reset (what the DNAT'ed SYN would get).
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    Ok(Forwarder {
        listen,
        target,
        task,
    })
}

/// The node address a mapping binds: its `hostIP`, unless empty or `0.0.0.0` (all addresses,
/// which on labsim means the node's IP: labsim listens on nothing beyond a node's own address).
pub fn listen_ip(host_ip: &str, node_ip: Ipv4Addr) -> Ipv4Addr {
    match host_ip.parse::<Ipv4Addr>() {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => node_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn relays_both_ways_until_dropped() {
        let backend = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = match backend.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        tokio::spawn(async move {
            let (mut s, _) = backend.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(b"pong").await.unwrap();
        });
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = match probe.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        drop(probe);
        let f = forward(listen, target).await.unwrap();
        let mut c = TcpStream::connect(listen).await.unwrap();
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        drop(f);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(TcpStream::connect(listen).await.is_err());
        assert_eq!(
            listen_ip("0.0.0.0", Ipv4Addr::new(127, 100, 49, 3)),
            Ipv4Addr::new(127, 100, 49, 3)
        );
        assert_eq!(
            listen_ip("", Ipv4Addr::new(127, 100, 49, 3)),
            Ipv4Addr::new(127, 100, 49, 3)
        );
    }
}
