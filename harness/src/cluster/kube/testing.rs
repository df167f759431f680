//! Request-shape tests as scripts: a test lists the requests it expects (method, path, query,
//! content type, body) with the answer to each, and calls the cluster; a task on the
//! `tower_test` mock plays the script in order, asserts every request, and fails on any
//! request after the last. Waits that leave requests open are served by a route instead.
//! Tests call through the trait (`Cluster::pods(c, ..)`), so `mod.rs`'s delegation is tested.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock;

use super::KubeCluster;

/// A request as the test's server sees it.
pub(super) type ApiRequest = Request<Body>;
type Handle = mock::Handle<ApiRequest, Response<Body>>;
type Reply = mock::SendResponse<Response<Body>>;
type BodyCheck = Box<dyn FnOnce(&Value) + Send>;
/// Strings taken from earlier bodies (a generated name), which later paths, query values and
/// answers write as `{name}`.
type Vars = BTreeMap<&'static str, String>;

/// A client whose every request the test answers through the handle.
pub(super) fn mocked() -> (KubeCluster, Handle) {
    let (service, handle) = mock::pair::<ApiRequest, Response<Body>>();
    let client = kube::Client::new(service, "default");
    (KubeCluster::new(client, "kind-test".into()), handle)
}

/// One expected request and its answer.
#[derive(Default)]
pub(super) struct Exchange {
    method: Method,
    path: String,
    /// A value, or `None` for "not in the query".
    query: Vec<(&'static str, Option<String>)>,
    content_type: Option<&'static str>,
    has: Option<Value>,
    check: Option<BodyCheck>,
    capture: Option<(&'static str, &'static str)>,
    answer: Option<Answer>,
}

enum Answer {
    Json(u16, Value),
    /// The request's body, as server-side apply answers.
    Echo,
    Text(&'static str),
    /// The connection fails.
    Refused(&'static str),
}

fn expect(method: Method, path: &str) -> Exchange {
    let path = path.into();
    Exchange {
        method,
        path,
        ..Default::default()
    }
}

pub(super) fn get(path: &str) -> Exchange {
    expect(Method::GET, path)
}

pub(super) fn post(path: &str) -> Exchange {
    expect(Method::POST, path)
}

pub(super) fn patch(path: &str) -> Exchange {
    expect(Method::PATCH, path)
}

pub(super) fn delete(path: &str) -> Exchange {
    expect(Method::DELETE, path)
}

/// A list answer (`kind: List`; kube reads only the items and the resourceVersion).
pub(super) fn list(items: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items})
}

impl Exchange {
    pub(super) fn query(mut self, key: &'static str, value: &str) -> Self {
        self.query.push((key, Some(value.into())));
        self
    }

    pub(super) fn no_query(mut self, key: &'static str) -> Self {
        self.query.push((key, None));
        self
    }

    pub(super) fn content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// The body holds `fields`: every key of their objects, with equal values, and arrays
    /// of the same length whose items hold the given ones.
    pub(super) fn has(mut self, fields: Value) -> Self {
        self.has = Some(fields);
        self
    }

    /// Checks on the body that [`Exchange::has`] cannot say.
    pub(super) fn body(mut self, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.check = Some(Box::new(check));
        self
    }

    /// Keeps the string at `pointer` in the body as `{var}` for the exchanges after it.
    pub(super) fn capture(mut self, var: &'static str, pointer: &'static str) -> Self {
        self.capture = Some((var, pointer));
        self
    }

    pub(super) fn answer(mut self, json: Value) -> Self {
        self.answer = Some(Answer::Json(200, json));
        self
    }

    pub(super) fn echo(mut self) -> Self {
        self.answer = Some(Answer::Echo);
        self
    }

    pub(super) fn text(mut self, text: &'static str) -> Self {
        self.answer = Some(Answer::Text(text));
        self
    }

    /// A Kubernetes `Status` failure.
    pub(super) fn status(mut self, code: u16, reason: &str, message: &str) -> Self {
        let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code});
        self.answer = Some(Answer::Json(code, status));
        self
    }

    pub(super) fn refused(mut self, reason: &'static str) -> Self {
        self.answer = Some(Answer::Refused(reason));
        self
    }

    async fn play(self, request: ApiRequest, reply: Reply, vars: &mut Vars) {
        let what = format!("{} {}", request.method(), request.uri());
        assert_eq!(request.method(), self.method, "{what}");
        assert_eq!(request.uri().path(), fill(&self.path, vars), "{what}");
        let query = query_of(&request);
        for (key, value) in &self.query {
            let value = value.as_deref().map(|v| fill(v, vars));
            assert_eq!(query.get(*key), value.as_ref(), "{key} of {what}");
        }
        if let Some(expected) = self.content_type {
            let content_type = request.headers().get(http::header::CONTENT_TYPE);
            let content_type = content_type.and_then(|v| v.to_str().ok());
            assert_eq!(content_type, Some(expected), "{what}");
        }
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        if let Some(fields) = &self.has
            && let Some(differs) = differs(&body, fields, String::new())
        {
            panic!("{what}: the body differs at {differs}: {body}");
        }
        if let Some(check) = self.check {
            check(&body);
        }
        if let Some((var, pointer)) = self.capture {
            let value = body.pointer(pointer).and_then(Value::as_str);
            let value = value.unwrap_or_else(|| panic!("no {pointer} in {body}"));
            vars.insert(var, value.into());
        }
        match self.answer.unwrap_or_else(|| panic!("no answer to {what}")) {
            Answer::Json(code, json) => {
                reply.send_response(json_response(code, &fill_json(json, vars)))
            }
            Answer::Echo => reply.send_response(json_response(200, &body)),
            Answer::Text(text) => {
                reply.send_response(Response::new(text.as_bytes().to_vec().into()))
            }
            Answer::Refused(reason) => reply.send_error(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                reason,
            )),
        }
    }
}

/// Calls `call` on a cluster whose API server plays `script` in order, and asserts that
/// nothing more was asked; returns what `call` returned.
pub(super) async fn scripted<T>(
    script: impl IntoIterator<Item = Exchange>,
    call: impl AsyncFnOnce(&KubeCluster) -> T,
) -> T {
    let script: Vec<Exchange> = script.into_iter().collect();
    against(|handle| play(handle, script), call).await
}

/// Calls `call` on a cluster whose API server answers each request with what `route` gives
/// for it, and leaves it open (a watch, or a list cut short by a deadline) on `None`.
pub(super) async fn routed<T>(
    route: impl FnMut(&ApiRequest) -> Option<Value> + Send + 'static,
    call: impl AsyncFnOnce(&KubeCluster) -> T,
) -> T {
    against(|handle| serve(handle, route), call).await
}

/// Whether a request is a watch (rather than a list or a read).
pub(super) fn is_watch(request: &ApiRequest) -> bool {
    query_of(request).get("watch").map(String::as_str) == Some("true")
}

async fn against<T, S>(
    server: impl FnOnce(Handle) -> S,
    call: impl AsyncFnOnce(&KubeCluster) -> T,
) -> T
where
    S: Future<Output = ()> + Send + 'static,
{
    let (cluster, handle) = mocked();
    let server = tokio::spawn(server(handle));
    let result = call(&cluster).await;
    // Once the client is gone, the server sees the end of its requests.
    drop(cluster);
    if let Err(error) = server.await {
        std::panic::resume_unwind(error.into_panic());
    }
    result
}

async fn play(mut handle: Handle, script: Vec<Exchange>) {
    let mut vars = Vars::new();
    for exchange in script {
        let expected = format!("{} {}", exchange.method, exchange.path);
        let next = handle.next_request().await;
        let (request, reply) = next.unwrap_or_else(|| panic!("no request; expected {expected}"));
        exchange.play(request, reply, &mut vars).await;
    }
    let next = tokio::time::timeout(Duration::from_secs(5), handle.next_request()).await;
    if let Ok(Some((request, _))) = next {
        panic!("unexpected request {} {}", request.method(), request.uri());
    }
}

async fn serve(mut handle: Handle, mut route: impl FnMut(&ApiRequest) -> Option<Value>) {
    let mut open = Vec::new();
    while let Some((request, reply)) = handle.next_request().await {
        match route(&request) {
            Some(json) => reply.send_response(json_response(200, &json)),
            None => open.push(reply),
        }
    }
}

fn json_response(code: u16, json: &Value) -> Response<Body> {
    let body = Body::from(serde_json::to_vec(json).unwrap());
    Response::builder().status(code).body(body).unwrap()
}

/// Where `actual` does not hold `expected` (see [`Exchange::has`]), as a JSON pointer.
fn differs(actual: &Value, expected: &Value, at: String) -> Option<String> {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected.iter().find_map(|(k, e)| {
            let a = actual.get(k).unwrap_or(&Value::Null);
            differs(a, e, format!("{at}/{k}"))
        }),
        (Value::Array(actual), Value::Array(expected)) if actual.len() == expected.len() => {
            let mut pairs = actual.iter().zip(expected).enumerate();
            pairs.find_map(|(i, (a, e))| differs(a, e, format!("{at}/{i}")))
        }
        _ => (actual != expected).then_some(at),
    }
}

/// `text` with every `{var}` replaced by its value.
fn fill(text: &str, vars: &Vars) -> String {
    let fill =
        |text: String, (var, value): (&&str, &String)| text.replace(&format!("{{{var}}}"), value);
    vars.iter().fold(text.to_string(), fill)
}

fn fill_json(json: Value, vars: &Vars) -> Value {
    match json {
        Value::String(text) => Value::String(fill(&text, vars)),
        Value::Array(items) => items.into_iter().map(|v| fill_json(v, vars)).collect(),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| (k, fill_json(v, vars)))
            .collect(),
        other => other,
    }
}

/// The decoded query pairs of a request.
fn query_of(request: &ApiRequest) -> BTreeMap<String, String> {
    let url = reqwest::Url::parse(&format!("http://api{}", request.uri())).unwrap();
    url.query_pairs().into_owned().collect()
}
