//! Config: every setting, each with a flag and an environment variable (the flag wins), and every
//! default in this one place. clap reports an invalid value in one line and exits with code 2.

use std::{net::SocketAddr, time::Duration};

use clap::Parser;

/// prog-lang-api: a REST API about programming languages, with its OpenAPI spec and Swagger UI.
#[derive(Parser, Debug, Clone)]
#[command(name = "prog-lang-api", version, about)]
pub struct Config {
    /// Where to listen, as HOST:PORT.
    #[arg(long, env = "PROG_LANG_API_ADDR", default_value = "127.0.0.1:5000")]
    pub addr: SocketAddr,

    /// How long shutdown waits for requests in flight, in seconds.
    #[arg(
        long = "drain-timeout",
        env = "PROG_LANG_API_DRAIN_TIMEOUT",
        default_value = "10",
        value_name = "SECS"
    )]
    pub drain_timeout_secs: u64,
}

impl Config {
    /// The configuration with every default, as a server started with no flags has it.
    pub fn defaults() -> Self {
        Self::parse_from([env!("CARGO_PKG_NAME")])
    }

    pub(crate) fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }
}
