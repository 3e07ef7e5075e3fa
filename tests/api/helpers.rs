//! spawn_app() on 127.0.0.1:0 with a store of its own, and one helper per operation.

use prog_lang_api::{Config, Store, serve};
use reqwest::{Response, StatusCode, header::CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot};

/// A server running on its own port and store, stopped when dropped.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

pub async fn spawn_app() -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let address = format!("http://{}", listener.local_addr().expect("local address"));
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        Store::in_memory(),
        Config::defaults(),
        async {
            let _ = stopped.await;
        },
    ));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        _shutdown: shutdown,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn list(&self, query: &str) -> Response {
        self.get(&format!("/programming_languages{query}")).await
    }

    pub async fn get_language(&self, encoded_name: &str) -> Response {
        self.get(&format!("/programming_languages/{encoded_name}"))
            .await
    }

    pub async fn create(&self, body: &Value) -> Response {
        self.send_json(reqwest::Method::POST, "/programming_languages", body)
            .await
    }

    pub async fn update(&self, encoded_name: &str, body: &Value) -> Response {
        self.send_json(
            reqwest::Method::PUT,
            &format!("/programming_languages/{encoded_name}"),
            body,
        )
        .await
    }

    pub async fn delete(&self, encoded_name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/programming_languages/{encoded_name}")))
            .send()
            .await
            .expect("DELETE")
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.send_raw(method, path, "application/json", body.to_string())
            .await
    }

    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .request(method, self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// The names of every language, walking all pages.
    pub async fn all_names(&self) -> Vec<String> {
        let body = json_body(self.list("?limit=1000").await, StatusCode::OK).await;
        names(&body)
    }
}

/// A language document.
pub fn language(name: &str, year: i64, contribution: &str) -> Value {
    json!({"name": name, "publication_year": year, "contribution": contribution})
}

/// The names in a page body.
pub fn names(page: &Value) -> Vec<String> {
    page["programming_languages"]
        .as_array()
        .expect("a list of languages")
        .iter()
        .map(|language| language["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// The seed's names, in order.
pub const SEED_NAMES: [&str; 8] = [
    "COBOL", "ALGOL", "APL", "BASIC", "PL", "SIMULA67", "Pascal", "CLU",
];

/// Asserts the status and the JSON content type, and returns the body.
pub async fn json_body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(content_type(&response), "application/json");
    response.json().await.expect("a JSON body")
}

/// Asserts that the response is the problem of `kind` with `status` for `instance`, in RFC 9457's
/// shape, and returns the body.
pub async fn problem(response: Response, status: StatusCode, kind: &str, instance: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    assert_eq!(content_type(&response), "application/problem+json");
    let body: Value = response.json().await.expect("a JSON problem");
    assert_eq!(body["type"], kind, "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert_eq!(body["instance"], instance, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .map(|value| value.to_str().expect("ASCII").to_owned())
        .unwrap_or_default()
}

/// The JSON Pointers named in a 400 problem's `errors`.
pub fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["pointer"].as_str().map(str::to_owned))
        .collect()
}

/// The parameters named in a 400 problem's `errors`.
pub fn parameters(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["parameter"].as_str().map(str::to_owned))
        .collect()
}
