//! A TCP proxy on loopback that a test can cut: one server process reaches the database through
//! it, so the test can take the database away from that process alone and give it back.

use anyhow::{Context, Result};
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    addr: SocketAddr,
    /// `true` while cut.
    cut: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forward connections to `target` (`host:port`).
    pub async fn start(target: &str) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let target = target.to_string();
        let watcher = cut.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watcher.borrow() {
                    // Refused: closed before a byte is exchanged.
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let mut cut = watcher.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        // Dropping both sockets ends the connection on both sides.
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Ok(Proxy { addr, cut, accept })
    }

    /// A proxy to the database of a `postgres://` URL, and the URL that goes through it.
    pub async fn for_database(url: &str) -> Result<(Proxy, String)> {
        let mut parsed = reqwest::Url::parse(url).context("database URL")?;
        let host = parsed.host_str().context("database host")?.to_string();
        let port = parsed.port().unwrap_or(5432);
        let proxy = Proxy::start(&format!("{host}:{port}")).await?;
        parsed
            .set_host(Some(&proxy.addr.ip().to_string()))
            .context("proxy host")?;
        parsed
            .set_port(Some(proxy.addr.port()))
            .map_err(|()| anyhow::anyhow!("cannot set the proxy port"))?;
        Ok((proxy, parsed.to_string()))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drop every open connection and refuse new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Accept and forward connections again.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut.send_replace(true);
        self.accept.abort();
    }
}
