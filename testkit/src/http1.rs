//! Just enough HTTP/1.1 for the test and bench proxies in front of the
//! emulator (one request per client connection, forwarded with
//! `Connection: close` over a fresh upstream connection) and for the
//! stand-ins, which answer one request per connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One request: its head (request line and headers) and its body.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// The request as sent upstream: `Connection: close`, plus `extra` headers.
    pub fn forwarded(&self, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut out: Vec<u8> = self
            .head
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .take_while(|l| !l.is_empty())
            .flat_map(|l| format!("{l}\r\n").into_bytes())
            .collect();
        for (k, v) in extra {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Reads one request (head, then `Content-Length` bytes); `None` if the client
/// closed first.
pub async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = buf[head_end..head_end + len].to_vec();
    Ok(Some(Request { head, body }))
}

/// Sends `request` to `upstream` and reads the whole answer.
pub async fn exchange(upstream: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(request).await?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await?;
    Ok(response)
}

/// Serves `listener` (a stand-in's): one request per connection, answered by
/// `answer` with (status, content type, body), then closed.
pub async fn serve<F, Fut>(listener: std::net::TcpListener, answer: F)
where
    F: Fn(Request) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = (u16, &'static str, String)> + Send,
{
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let Ok(Some(request)) = read_request(&mut conn).await else {
                return;
            };
            let (status, content_type, body) = answer(request).await;
            let reason = if status == 200 { "OK" } else { "Error" };
            let head = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: standin\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
        });
    }
}
