//! A TCP proxy in front of the emulator that the tests can cut and restore: the portal sees its
//! AWS endpoint die (refused connections, dropped keep-alives) while the emulator keeps its
//! state, which is what a regional outage followed by recovery looks like.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    address: SocketAddr,
    upstream: String,
    running: Option<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let mut proxy = Self {
            address,
            upstream: upstream.to_owned(),
            running: None,
        };
        proxy.running = Some(tokio::spawn(serve(listener, proxy.upstream.clone())));
        proxy
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Closes the listening port and every open connection.
    pub fn cut(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        self.cut();
        let mut last_error = None;
        for _ in 0..50 {
            match TcpListener::bind(self.address).await {
                Ok(listener) => {
                    self.running = Some(tokio::spawn(serve(listener, self.upstream.clone())));
                    return;
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("could not listen on {} again: {last_error:?}", self.address);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Aborting this task drops the join set, which aborts (and so closes) every connection.
async fn serve(listener: TcpListener, upstream: String) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let upstream = upstream.clone();
        connections.spawn(async move {
            if let Ok(mut server) = TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}
