//! A Lambda Runtime API emulator: what the Lambda service offers a function process on
//! `AWS_LAMBDA_RUNTIME_API`. The function long-polls `invocation/next`, answers with
//! `invocation/{id}/response` or `/error`, and reports start-up failures to `init/error`.
//! Each invocation gets a fresh request id and a deadline, like the real service.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};

/// How an invocation ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Value),
    Error(Value),
}

struct Pending {
    event: Value,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_errors: Mutex<Vec<(HeaderMap, Value)>>,
    init_error_seen: Notify,
    next_calls: Mutex<usize>,
    /// When the function first asked for work: the end of its initialisation.
    first_next_at: Mutex<Option<std::time::Instant>>,
}

pub struct RuntimeApi {
    address: SocketAddr,
    submit: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (submit, queue) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue),
            in_flight: Mutex::new(HashMap::new()),
            init_errors: Mutex::new(Vec::new()),
            init_error_seen: Notify::new(),
            next_calls: Mutex::new(0),
            first_next_at: Mutex::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime API");
        let address = listener.local_addr().expect("runtime API address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            address,
            submit,
            shared,
            server,
        }
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.address.to_string()
    }

    /// Hands `event` to the function and waits for its answer.
    pub async fn invoke(&self, event: Value) -> Outcome {
        let (reply, answer) = oneshot::channel();
        self.submit.send(Pending { event, reply }).expect("runtime API running");
        tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .expect("the function answered within 30 s")
            .expect("the invocation was answered")
    }

    /// Invokes and expects a successful response document.
    pub async fn invoke_ok(&self, event: Value) -> Value {
        match self.invoke(event).await {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("the invocation failed: {e}"),
        }
    }

    /// How often the function asked for its next invocation.
    pub fn next_calls(&self) -> usize {
        *self.shared.next_calls.lock().expect("counter")
    }

    /// When the function first asked for an invocation (its init finished), if it has.
    pub fn first_next_at(&self) -> Option<std::time::Instant> {
        *self.shared.first_next_at.lock().expect("first next")
    }

    /// Waits for a report on `/runtime/init/error`.
    pub async fn init_error(&self, timeout: Duration) -> Option<(HeaderMap, Value)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.shared.init_error_seen.notified();
            if let Some(first) = self.shared.init_errors.lock().expect("errors").first() {
                return Some(first.clone());
            }
            if tokio::time::timeout_at(deadline, seen).await.is_err() {
                return None;
            }
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    *shared.next_calls.lock().expect("counter") += 1;
    shared
        .first_next_at
        .lock()
        .expect("first next")
        .get_or_insert_with(std::time::Instant::now);
    let pending = shared.queue.lock().await.recv().await;
    let Some(pending) = pending else {
        return StatusCode::GONE.into_response();
    };
    let id = format!("{:032x}", rand::random::<u128>());
    shared
        .in_flight
        .lock()
        .expect("in flight")
        .insert(id.clone(), pending.reply);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let mut response = pending.event.to_string().into_response();
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-north-1:123456789012:function:portal-test".into(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0".into(),
    );
    set("content-type", "application/json".into());
    response
}

fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.in_flight.lock().expect("in flight").remove(id) {
        Some(reply) => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Response(json_or_text(&body)))
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Error(json_or_text(&body)))
}

async fn init_error(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared
        .init_errors
        .lock()
        .expect("errors")
        .push((headers, json_or_text(&body)));
    shared.init_error_seen.notify_waiters();
    StatusCode::ACCEPTED
}
