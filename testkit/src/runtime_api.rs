//! A small Lambda Runtime API server speaking the real protocol
//! (`/2018-06-01/runtime/invocation/next`, `…/{id}/response`, `…/{id}/error`,
//! `…/init/error`), so the built binary runs as a Lambda here without Docker:
//! the `sam local invoke` path.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, mpsc};

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

struct Shared {
    next: Mutex<mpsc::Receiver<(String, Value)>>,
    outcomes: Mutex<HashMap<String, Outcome>>,
    init_error: Mutex<Option<Value>>,
    /// When the function first asked for work (cold start measurements).
    first_next: Mutex<Option<std::time::Instant>>,
    changed: Notify,
}

pub struct RuntimeApi {
    pub addr: String,
    queue: mpsc::Sender<(String, Value)>,
    shared: Arc<Shared>,
    seq: std::sync::atomic::AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (queue, rx) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            next: Mutex::new(rx),
            outcomes: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
            first_next: Mutex::new(None),
            changed: Notify::new(),
        });
        let s = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(conn, s).await;
                });
            }
        });
        RuntimeApi {
            addr,
            queue,
            shared,
            seq: Default::default(),
        }
    }

    /// Queues `event`, waits for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Outcome {
        let id = format!(
            "req-{}",
            self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.queue.send((id.clone(), event)).await.unwrap();
        let wait = async {
            loop {
                let notified = self.shared.changed.notified();
                if let Some(o) = self.shared.outcomes.lock().await.remove(&id) {
                    return o;
                }
                if let Some(e) = self.shared.init_error.lock().await.clone() {
                    return Outcome::Error(e);
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| panic!("no answer for {id} within {timeout:?}"))
    }

    pub async fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().await.clone()
    }

    pub async fn first_next(&self) -> Option<std::time::Instant> {
        *self.shared.first_next.lock().await
    }

    /// Waits until the function first asks for work.
    pub async fn wait_ready(&self, timeout: Duration) -> std::time::Instant {
        let wait = async {
            loop {
                let notified = self.shared.changed.notified();
                if let Some(t) = *self.shared.first_next.lock().await {
                    return t;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .expect("the function asked for work")
    }
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn read_request(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
            if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).await?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body).await?;
    }
    Ok(Some(Request { method, path, body }))
}

async fn serve(conn: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (read, mut write) = conn.into_split();
    let mut reader = BufReader::new(read);
    while let Some(req) = read_request(&mut reader).await? {
        let path = req.path.trim_start_matches("/2018-06-01/runtime");
        if req.method == "GET" && path == "/invocation/next" {
            {
                let mut first = shared.first_next.lock().await;
                if first.is_none() {
                    *first = Some(std::time::Instant::now());
                    shared.changed.notify_waiters();
                }
            }
            let Some((id, event)) = shared.next.lock().await.recv().await else {
                return Ok(());
            };
            let body = event.to_string();
            let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {id}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:audit-grants\r\n\
                 lambda-runtime-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\n\
                 content-length: {}\r\n\r\n",
                body.len()
            );
            write.write_all(head.as_bytes()).await?;
            write.write_all(body.as_bytes()).await?;
            continue;
        }
        let value: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if let Some(rest) = path.strip_prefix("/invocation/") {
            let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
            let outcome = if kind == "response" {
                Outcome::Response(value)
            } else {
                Outcome::Error(value)
            };
            shared.outcomes.lock().await.insert(id.to_owned(), outcome);
        } else if path == "/init/error" {
            *shared.init_error.lock().await = Some(value);
        }
        shared.changed.notify_waiters();
        let ok = r#"{"status":"OK"}"#;
        let head = format!(
            "HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            ok.len()
        );
        write.write_all(head.as_bytes()).await?;
        write.write_all(ok.as_bytes()).await?;
    }
    Ok(())
}
