//! The yardstick of the load benchmark (`benches/load/run`): a minimal server on bare hyper and
//! tokio, set up as prog-lang-api's own listener is, that answers each request with a response
//! captured from prog-lang-api, found by method and target, and does nothing else. What
//! prog-lang-api serves beyond this is the cost of its routing, checks, store, logging and JSON.
//!
//! `bare_hyper --serve ADDR CAPTURE...`, where each CAPTURE file holds a request line (`GET /x`)
//! and, after it, the response as `curl --include` printed it. Run by `cargo bench` alone, it has
//! nothing to serve and exits.
//!
//! With `--serialize` first, a captured page of languages is kept as typed values and serialized
//! with serde_json on every request, as a server that holds the languages must: the yardstick for
//! what prog-lang-api's own serialization of a page costs.

use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Request, Response, StatusCode,
    header::{CONNECTION, CONTENT_LENGTH, DATE, HeaderMap, HeaderName, HeaderValue},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A captured response: what is sent for every request with its method and target.
struct Captured {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    /// The page the body holds, to serialize on each request (`--serialize`).
    page: Option<Page>,
}

/// A page of languages, as prog-lang-api writes one.
#[derive(serde::Deserialize, serde::Serialize)]
struct Page {
    programming_languages: Vec<Language>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Language {
    name: String,
    publication_year: i32,
    contribution: String,
}

type Responses = HashMap<(String, String), Captured>;

#[tokio::main]
async fn main() -> Result<(), String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let (serialize, arguments) = match arguments.split_first() {
        Some((flag, rest)) if flag == "--serialize" => (true, rest),
        _ => (false, &arguments[..]),
    };
    let (addr, captures) = match arguments {
        [flag, addr, captures @ ..] if flag == "--serve" => (addr, captures),
        _ => {
            println!("bare_hyper: the load benchmark's yardstick; benches/load/run starts it");
            return Ok(());
        }
    };
    let addr: SocketAddr = addr.parse().map_err(|error| format!("{addr}: {error}"))?;
    let mut responses = Responses::new();
    for path in captures {
        let capture = std::fs::read(path).map_err(|error| format!("{path}: {error}"))?;
        let (request, mut captured) = parse(&capture).ok_or(format!("{path}: not a capture"))?;
        if serialize {
            captured.page = serde_json::from_slice(&captured.body).ok();
        }
        responses.insert(request, captured);
    }
    let responses = Arc::new(responses);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|error| format!("{addr}: {error}"))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let responses = Arc::clone(&responses);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&responses), request));
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    responses: Arc<Responses>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let key = (
        request.method().as_str().to_owned(),
        request
            .uri()
            .path_and_query()
            .map_or("/", |target| target.as_str())
            .to_owned(),
    );
    // Read the body, as any server must to keep the connection.
    let _ = request.into_body().collect().await;
    let mut response = Response::default();
    match responses.get(&key) {
        Some(captured) => {
            *response.status_mut() = captured.status;
            *response.headers_mut() = captured.headers.clone();
            let body = match &captured.page {
                Some(page) => Bytes::from(serde_json::to_vec(page).unwrap_or_default()),
                None => captured.body.clone(),
            };
            *response.body_mut() = Full::new(body);
        }
        None => *response.status_mut() = StatusCode::NOT_FOUND,
    }
    Ok(response)
}

/// The request line and the response of a capture file; hyper writes `Date` and
/// `Content-Length` itself.
fn parse(capture: &[u8]) -> Option<((String, String), Captured)> {
    let text_end = capture
        .windows(4)
        .position(|window| window == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&capture[..text_end]).ok()?;
    let body = Bytes::copy_from_slice(&capture[text_end + 4..]);
    let mut lines = head.lines();
    let (method, target) = lines.next()?.trim().split_once(' ')?;
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name: HeaderName = name.trim().parse().ok()?;
        if [CONTENT_LENGTH, DATE, CONNECTION].contains(&name) {
            continue;
        }
        headers.append(name, HeaderValue::from_str(value.trim()).ok()?);
    }
    let request = (method.to_owned(), target.to_owned());
    Some((
        request,
        Captured {
            status,
            headers,
            body,
            page: None,
        },
    ))
}
