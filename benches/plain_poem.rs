//! The load benchmark's baseline for the layers (`benches/load/run`): this project's own
//! operations (`prog_lang_api::bare_operations`), mounted on poem's own server with none of the
//! layers around them: no request ids, access log, error mapping, checks, tokens, CORS, metrics or
//! compression. What prog-lang-api serves below this is the price of those.
//!
//! `plain_poem --serve ADDR`. Run by `cargo bench` alone, it has nothing to do and exits.

use poem::{Server, listener::TcpListener};
use prog_lang_api::{Store, bare_operations};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [flag, addr] = arguments.as_slice() else {
        println!("plain_poem: the load benchmark's baseline; benches/load/run starts it");
        return Ok(());
    };
    if flag != "--serve" {
        println!("plain_poem: the load benchmark's baseline; benches/load/run starts it");
        return Ok(());
    }
    Server::new(TcpListener::bind(addr.as_str()))
        .run(bare_operations(Store::in_memory(100_000)))
        .await
}
