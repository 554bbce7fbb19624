//! A TCP proxy for fault tests: forwards every connection to one upstream address (or, as a
//! Kubernetes Service does, each new connection to the next of several in turn) until it
//! is cut. A cut closes every open connection and refuses new ones (accepted, then closed
//! at once), as a server that went away would; `restore` lets connections through again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running proxy; stops when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    open: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a random local port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<TcpProxy> {
        TcpProxy::round_robin(vec![upstream]).await
    }

    /// Listens on a random local port and forwards each new connection to the next of
    /// `upstreams` in turn, as kube-proxy spreads a Service's connections over its pods.
    pub async fn round_robin(upstreams: Vec<SocketAddr>) -> std::io::Result<TcpProxy> {
        assert!(!upstreams.is_empty(), "a proxy needs an upstream");
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, cut_rx) = watch::channel(false);
        let open = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(listener, upstreams, cut_rx, open.clone()));
        Ok(TcpProxy {
            addr,
            cut,
            open,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Connections currently forwarded.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstreams: Vec<SocketAddr>,
    cut: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
) {
    for upstream in upstreams.into_iter().cycle() {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *cut.borrow() {
            // Refused: closed before a byte is exchanged.
            drop(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, cut.clone(), open.clone()));
    }
}

async fn forward(
    mut client: TcpStream,
    upstream: SocketAddr,
    mut cut: watch::Receiver<bool>,
    open: Arc<AtomicUsize>,
) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    open.fetch_add(1, Ordering::SeqCst);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
    open.fetch_sub(1, Ordering::SeqCst);
    // Both sides are dropped here: the client sees its connection closed.
}
