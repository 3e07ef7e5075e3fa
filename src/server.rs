//! serve(listener, store, config, shutdown): HTTP on an already bound listener, until `shutdown`
//! completes; then new connections are refused and requests in flight get up to the drain
//! timeout to finish.

use std::{future::Future, io};

use poem::{Server, listener::TcpAcceptor};
use tokio::net::TcpListener;

use crate::{config::Config, routes, store::Store};

/// Serves the API over `store` on `listener` until `shutdown` completes and the drain is over.
/// Taking the listener and the shutdown signal as parameters lets tests bind port 0 and stop the
/// server themselves, through the same code path as `main`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let acceptor = TcpAcceptor::from_tokio(listener)?;
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(routes::app(store), shutdown, Some(config.drain_timeout()))
        .await
}
