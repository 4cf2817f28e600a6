//! A proxy that forwards one request at a time to the emulator (moto is not thread-safe), optionally in a chosen account or dropping chosen requests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crate::*;

static PROXY: OnceLock<String> = OnceLock::new();

/// The proxy's URL (started once per test process, on its own thread and runtime
/// so it outlives each test's runtime).
pub fn proxy_url() -> String {
    PROXY
        .get_or_init(|| start_proxy(ProxyOptions::default()))
        .clone()
}

/// Called with the number (from 1) of each request; `false` drops it unanswered.
pub type ProxyHook = Arc<dyn Fn(usize) -> bool + Send + Sync>;

#[derive(Default, Clone)]
pub struct ProxyOptions {
    /// Act in this emulated account (for clients that cannot add the header,
    /// such as the binary).
    pub account: Option<String>,
    pub hook: Option<ProxyHook>,
}

/// Starts a serialising proxy to the emulator; its URL.
pub fn start_proxy(options: ProxyOptions) -> String {
    let upstream = emulator().trim_start_matches("http://").to_owned();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve_proxy(listener, upstream, options));
    });
    format!("http://{addr}")
}

async fn serve_proxy(listener: std::net::TcpListener, upstream: String, options: ProxyOptions) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let lock = Arc::new(tokio::sync::Mutex::new(()));
    let options = Arc::new(options);
    let seq = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let (lock, upstream, options, seq) =
            (lock.clone(), upstream.clone(), options.clone(), seq.clone());
        tokio::spawn(async move {
            let _ = proxy_connection(conn, &upstream, &lock, &options, &seq).await;
        });
    }
}

/// Forwards one request, one at a time across all connections.
async fn proxy_connection(
    mut conn: tokio::net::TcpStream,
    upstream: &str,
    lock: &tokio::sync::Mutex<()>,
    options: &ProxyOptions,
    seq: &AtomicU64,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let Some(request) = http1::read_request(&mut conn).await? else {
        return Ok(());
    };
    let account = options.account.as_deref().map(|a| ("x-moto-account-id", a));
    let forwarded = request.forwarded(account.as_slice());
    let response = {
        let _one_at_a_time = lock.lock().await;
        let n = seq.fetch_add(1, Ordering::SeqCst) as usize + 1;
        if let Some(hook) = &options.hook
            && !hook(n)
        {
            return Ok(());
        }
        http1::exchange(upstream, &forwarded).await?
    };
    conn.write_all(&response).await
}
