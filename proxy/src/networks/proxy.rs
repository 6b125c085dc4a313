//! The userland proxy for published ports (what dockerd's `docker-proxy` does): a listener
//! on the host address and port that forwards to the container's address. A listening
//! socket reaches what kernel DNAT alone does not: `127.0.0.1`/`::1` and hairpin traffic
//! from other containers to the host's address. Listeners live in the daemon: a port is
//! bound while the container runs, and a daemon that dies frees it with its sockets.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;

use super::ports::{Bound, Proto, Request};

/// A UDP flow with no traffic for this long is forgotten (docker-proxy uses 90 s).
const UDP_IDLE: Duration = Duration::from_secs(90);

/// docker-proxy's message (Go's error text: lower case, no errno).
#[derive(Debug, thiserror::Error)]
#[error("Error starting userland proxy: listen {proto}{family} {addr}: bind: {}", go_text(.source))]
pub struct BindError {
    proto: Proto,
    family: &'static str,
    addr: SocketAddr,
    source: io::Error,
}

fn go_text(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The listeners of one container; dropping it closes them and ends their connections.
#[derive(Default)]
pub struct Published {
    tasks: JoinSet<()>,
}

enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

fn bind(proto: Proto, addr: SocketAddr) -> Result<Listener, BindError> {
    let err = |source| BindError {
        proto,
        family: if addr.is_ipv4() { "4" } else { "6" },
        addr,
        source,
    };
    let domain = Domain::for_address(addr);
    let sock = match proto {
        Proto::Tcp => Socket::new(domain, Type::STREAM, Some(Protocol::TCP)),
        Proto::Udp => Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)),
    }
    .map_err(err)?;
    if addr.is_ipv6() {
        // `::` must not also take the IPv4 port: 0.0.0.0 is bound separately.
        sock.set_only_v6(true).map_err(err)?;
    }
    if proto == Proto::Tcp {
        // As Go's listeners: a port in TIME_WAIT can be listened on again.
        sock.set_reuse_address(true).map_err(err)?;
    }
    sock.set_nonblocking(true).map_err(err)?;
    sock.bind(&addr.into()).map_err(err)?;
    match proto {
        Proto::Tcp => {
            sock.listen(1024).map_err(err)?;
            TcpListener::from_std(sock.into())
                .map(Listener::Tcp)
                .map_err(err)
        }
        Proto::Udp => UdpSocket::from_std(sock.into())
            .map(Listener::Udp)
            .map_err(err),
    }
}

fn local_port(l: &Listener) -> u16 {
    match l {
        Listener::Tcp(t) => t.local_addr().map(|a| a.port()).unwrap_or(0),
        Listener::Udp(u) => u.local_addr().map(|a| a.port()).unwrap_or(0),
    }
}

/// A host without IPv6 cannot bind `::`; dockerd skips the IPv6 half there too.
fn no_ipv6(e: &BindError) -> bool {
    e.addr.is_ipv6()
        && matches!(
            e.source.raw_os_error(),
            Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL)
        )
}

/// Binds the listeners of one request on every address it names, all on one port.
fn bind_request(req: &Request) -> Result<Vec<(IpAddr, Listener)>, BindError> {
    let addrs: Vec<IpAddr> = match req.host_ip {
        Some(ip) => vec![ip],
        None => vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ],
    };
    let try_port = |port: u16| -> Result<Vec<(IpAddr, Listener)>, BindError> {
        let mut out = Vec::new();
        let mut port = port;
        for ip in &addrs {
            match bind(req.container.proto, SocketAddr::new(*ip, port)) {
                Ok(l) => {
                    // Port 0: the kernel picked one; the other family takes the same.
                    port = local_port(&l);
                    out.push((*ip, l));
                }
                Err(e) if req.host_ip.is_none() && no_ipv6(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    };
    if req.host_ports.is_empty() {
        // A random port can be free on 0.0.0.0 and taken on `::`: try a few.
        let mut last = None;
        for _ in 0..8 {
            match try_port(0) {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        return Err(last.unwrap_or_else(|| BindError {
            proto: req.container.proto,
            family: "4",
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        }));
    }
    let mut last = None;
    for p in &req.host_ports {
        match try_port(*p) {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("host_ports is not empty"))
}

/// Binds every request (all or nothing) and starts forwarding to `target`.
/// `target6`: the container's IPv6 address, where IPv6 listeners forward when it has one
/// (as docker-proxy's `-container-ip` on an `--ipv6` network); else they forward to `target`.
pub fn publish(
    reqs: &[Request],
    target: Ipv4Addr,
    target6: Option<Ipv6Addr>,
) -> Result<(Vec<Bound>, Published), BindError> {
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    for r in reqs {
        // An error drops what was bound so far: nothing is left listening.
        for (ip, l) in bind_request(r)? {
            bound.push(Bound {
                container: r.container,
                host_ip: ip,
                host_port: local_port(&l),
            });
            let to = match (ip, target6) {
                (IpAddr::V6(_), Some(t6)) => IpAddr::V6(t6),
                _ => IpAddr::V4(target),
            };
            listeners.push((l, SocketAddr::new(to, r.container.port)));
        }
    }
    let mut published = Published::default();
    for (l, to) in listeners {
        match l {
            Listener::Tcp(t) => published.tasks.spawn(forward_tcp(t, to)),
            Listener::Udp(u) => published.tasks.spawn(forward_udp(u, to)),
        };
    }
    Ok((bound, published))
}

/// The same bindings again after a daemon restart (the exact host ports recorded).
pub fn republish(
    bound: &[Bound],
    target: Ipv4Addr,
    target6: Option<Ipv6Addr>,
) -> Result<Published, BindError> {
    let reqs: Vec<Request> = bound
        .iter()
        .map(|b| Request {
            container: b.container,
            host_ip: Some(b.host_ip),
            host_ports: vec![b.host_port],
        })
        .collect();
    publish(&reqs, target, target6).map(|(_, p)| p)
}

async fn forward_tcp(listener: TcpListener, to: SocketAddr) {
    // Connections die with the listener's task (the JoinSet aborts them when dropped).
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else {
                    // Out of descriptors, most likely: let connections finish first.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                conns.spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(to).await else { return };
                    let _ = client.set_nodelay(true);
                    let _ = upstream.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn forward_udp(sock: UdpSocket, to: SocketAddr) {
    let sock = Arc::new(sock);
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut replies = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = r else { continue };
                let existing = flows.lock().unwrap_or_else(|p| p.into_inner()).get(&client).cloned();
                let flow = match existing {
                    Some(f) => f,
                    None => {
                        let Ok(f) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await else { continue };
                        if f.connect(to).await.is_err() {
                            continue;
                        }
                        let f = Arc::new(f);
                        flows.lock().unwrap_or_else(|p| p.into_inner()).insert(client, f.clone());
                        let (f2, sock2, flows2) = (f.clone(), sock.clone(), flows.clone());
                        replies.spawn(async move {
                            let mut b = vec![0u8; 65535];
                            while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, f2.recv(&mut b)).await {
                                let _ = sock2.send_to(&b[..n], client).await;
                            }
                            flows2.lock().unwrap_or_else(|p| p.into_inner()).remove(&client);
                        });
                        f
                    }
                };
                let _ = flow.send(&buf[..n]).await;
            }
            Some(_) = replies.join_next(), if !replies.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::ports::ContainerPort;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn req(proto: Proto, port: u16, ip: Option<&str>, host_ports: Vec<u16>) -> Request {
        Request {
            container: ContainerPort { port, proto },
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_ports,
        }
    }

    #[tokio::test]
    async fn forwards_tcp_and_udp_and_frees_ports_when_dropped() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let cport = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 5];
                    s.read_exact(&mut b).await.unwrap();
                    s.write_all(&b).await.unwrap();
                });
            }
        });
        let uecho = UdpSocket::bind(("127.0.0.1", cport)).await.unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            while let Ok((n, from)) = uecho.recv_from(&mut b).await {
                let _ = uecho.send_to(&b[..n], from).await;
            }
        });
        let reqs = [
            req(Proto::Tcp, cport, Some("127.0.0.1"), vec![]),
            req(Proto::Udp, cport, Some("127.0.0.1"), vec![]),
        ];
        let (bound, published) = publish(&reqs, Ipv4Addr::LOCALHOST, None).unwrap();
        assert_eq!(bound.len(), 2);
        assert!(bound.iter().all(|b| b.host_port != 0));
        let mut c = TcpStream::connect(("127.0.0.1", bound[0].host_port))
            .await
            .unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut b = [0u8; 5];
        c.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"hello");
        let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        u.send_to(b"ping", ("127.0.0.1", bound[1].host_port))
            .await
            .unwrap();
        let mut ub = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), u.recv(&mut ub))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&ub[..n], b"ping");

        // A taken port is an error and leaves nothing bound.
        let taken = bound[0].host_port;
        let err = publish(
            &[
                req(Proto::Tcp, 1, Some("127.0.0.1"), vec![]),
                req(Proto::Tcp, 2, Some("127.0.0.1"), vec![taken]),
            ],
            Ipv4Addr::LOCALHOST,
            None,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("address already in use"), "{err}");
        drop(published);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = republish(&bound[..1], Ipv4Addr::LOCALHOST, None);
        assert!(again.is_ok(), "the port was freed");
    }

    #[tokio::test]
    async fn ipv6_listeners_forward_to_the_ipv6_address() {
        // The container's service listens on IPv6 only: the `[::1]` listener must reach it
        // through the IPv6 target, the IPv4 one through the IPv4 target.
        let v6 = TcpListener::bind("[::1]:0").await.unwrap();
        let cport = v6.local_addr().unwrap().port();
        let v4 = TcpListener::bind(("127.0.0.1", cport)).await.unwrap();
        for (l, tag) in [(v6, b"six!!"), (v4, b"four!")] {
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let _ = s.write_all(tag).await;
                }
            });
        }
        let reqs = [
            req(Proto::Tcp, cport, Some("::1"), vec![]),
            req(Proto::Tcp, cport, Some("127.0.0.1"), vec![]),
        ];
        let (bound, _p) = publish(&reqs, Ipv4Addr::LOCALHOST, Some(Ipv6Addr::LOCALHOST)).unwrap();
        for (b, want) in bound.iter().zip([b"six!!", b"four!"]) {
            let mut c = TcpStream::connect((b.host_ip, b.host_port)).await.unwrap();
            let mut got = [0u8; 5];
            c.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, want, "{b:?}");
        }
    }
}
