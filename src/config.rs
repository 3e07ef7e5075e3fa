//! Config: every setting, each with a flag and an environment variable (the flag wins), and every
//! default in this one place. An invalid value stops the start with one line naming the setting
//! and exit code 2 (`Config::from_env_and_args`).

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use clap::{Parser, ValueEnum};
use email_address::EmailAddress;
use poem::http::Uri;

/// prog-lang-api: a REST API about programming languages, with its OpenAPI spec and Swagger UI.
///
/// Every setting can also be given by its environment variable; a flag wins over its variable.
/// Write tokens are read from PROG_LANG_API_WRITE_TOKENS (comma-separated) or from the file
/// --write-tokens-file names, never from the command line, which other users of the machine can
/// read. RUST_LOG sets the log level (default: info).
#[derive(Parser, Debug, Clone)]
// A negative number is a value, not a flag: `--max-connections -1` is refused by the setting's
// own parser, which names it, rather than as an unknown argument `-1`.
#[command(
    name = "prog-lang-api",
    version,
    about,
    long_about,
    allow_negative_numbers = true
)]
pub struct Config {
    /// Where to listen, as HOST:PORT.
    #[arg(
        long,
        env = "PROG_LANG_API_ADDR",
        default_value = "127.0.0.1:5000",
        value_name = "HOST:PORT"
    )]
    pub addr: SocketAddr,

    /// Where to serve GET /metrics for Prometheus, as HOST:PORT: a listener of its own, so that
    /// metrics are never public where the API is. Off when not given.
    #[arg(long, env = "PROG_LANG_API_METRICS_ADDR", value_name = "HOST:PORT")]
    pub metrics_addr: Option<SocketAddr>,

    /// Log line format.
    #[arg(
        long,
        env = "PROG_LANG_API_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,

    /// How long shutdown waits for requests in flight, in seconds.
    #[arg(
        long = "drain-timeout",
        env = "PROG_LANG_API_DRAIN_TIMEOUT",
        default_value = "10",
        value_name = "SECS"
    )]
    pub drain_timeout_secs: u64,

    /// On SIGINT or SIGTERM, go on serving this many seconds (0 to 300) before stopping:
    /// meanwhile `/healthz` answers 503 and every response closes its connection, so that a load
    /// balancer takes the server out before it closes a connection the balancer may be using.
    #[arg(
        long = "shutdown-delay",
        env = "PROG_LANG_API_SHUTDOWN_DELAY",
        default_value = "0",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(0..=300)
    )]
    pub shutdown_delay_secs: u64,

    /// Capacity: a create beyond this many languages is refused (507).
    #[arg(
        long,
        env = "PROG_LANG_API_MAX_LANGUAGES",
        default_value = "100000",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_languages: u64,

    /// A file of bearer tokens for writes, one per line (blank lines and lines starting with #
    /// are skipped). With tokens configured, POST, PUT, PATCH and DELETE need one.
    #[arg(long, env = "PROG_LANG_API_WRITE_TOKENS_FILE", value_name = "PATH")]
    pub write_tokens_file: Option<PathBuf>,

    /// Bearer tokens for writes, comma-separated: from the environment only.
    #[arg(skip)]
    pub write_tokens: Vec<String>,

    /// An origin allowed to call the API from a browser (CORS), such as https://example.com, or *
    /// for any; repeat for several. CORS is off when none is given.
    #[arg(
        long = "cors-origin",
        env = "PROG_LANG_API_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub cors_origins: Vec<String>,

    /// The URL the spec gives in `servers`, where clients reach the API (default: /, the server
    /// the spec was fetched from).
    #[arg(long, env = "PROG_LANG_API_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,

    /// Where users of this server write about it: an absolute http(s) URL, for the spec's
    /// `info.contact` (default: the documentation page under an absolute --public-url, when no
    /// email is given either).
    #[arg(long, env = "PROG_LANG_API_CONTACT_URL", value_name = "URL")]
    pub contact_url: Option<String>,

    /// The email address users of this server write to, for the spec's `info.contact`.
    #[arg(long, env = "PROG_LANG_API_CONTACT_EMAIL", value_name = "ADDRESS")]
    pub contact_email: Option<String>,

    /// A request head must be complete within this many seconds, counted from the connection's
    /// accept (first request) or from the head's first byte (later requests).
    #[arg(
        long = "header-read-timeout",
        env = "PROG_LANG_API_HEADER_READ_TIMEOUT",
        default_value = "10",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub header_read_timeout_secs: u64,

    /// A request's body must be complete within this many seconds of the end of its head; past
    /// it the connection is closed, with a 408 problem when no answer has begun.
    #[arg(
        long = "body-read-timeout",
        env = "PROG_LANG_API_BODY_READ_TIMEOUT",
        default_value = "30",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub body_read_timeout_secs: u64,

    /// A keep-alive connection with no request under way is closed after this many seconds.
    #[arg(
        long = "idle-timeout",
        env = "PROG_LANG_API_IDLE_TIMEOUT",
        default_value = "60",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub idle_timeout_secs: u64,

    /// Compress responses of 1 KiB or more with br or gzip, as the client's Accept-Encoding
    /// allows: on or off (off for a proxy that compresses itself).
    #[arg(
        long,
        env = "PROG_LANG_API_COMPRESSION",
        default_value = "on",
        value_name = "on|off",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::Set
    )]
    pub compression: bool,

    /// Client connections open at most. At the cap, idle keep-alive connections are closed to
    /// make room (the longest idle first), and new ones wait while every connection is busy.
    /// Lowered at start to fit the open-file limit, which is raised to its hard limit.
    #[arg(
        long,
        env = "PROG_LANG_API_MAX_CONNECTIONS",
        default_value = "10000",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub max_connections: u64,

    /// Keep languages in the PostgreSQL database at this URL,
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE, instead of in memory; several servers may share
    /// one database. The server creates and upgrades its tables.
    #[arg(
        long,
        env = "PROG_LANG_API_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<DatabaseUrl>,

    /// How long the answer to a request with an `Idempotency-Key` is kept for its retries, in
    /// seconds.
    #[arg(
        long = "idempotency-ttl",
        env = "PROG_LANG_API_IDEMPOTENCY_TTL",
        default_value = "86400",
        value_name = "SECS",
        value_parser = clap::value_parser!(u64).range(1..=31_536_000)
    )]
    pub idempotency_ttl_secs: u64,

    /// Idempotency keys kept at most at once (their answers are kept until they expire); past
    /// it, a request with a new key is a 503 problem.
    #[arg(
        long = "idempotency-max-keys",
        env = "PROG_LANG_API_IDEMPOTENCY_MAX_KEYS",
        default_value = "100000",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub idempotency_max_keys: u64,

    /// Requests per client per window, as N/SECS: 600/60 lets each client make 600 requests a
    /// minute, in bursts of up to 600. The client is the bearer token of a request with a valid
    /// one, else its address. Beyond it: 429. `/healthz` and the metrics are never limited. Off
    /// when not set.
    #[arg(
        long,
        env = "PROG_LANG_API_RATE_LIMIT",
        value_name = "N/SECS",
        allow_hyphen_values = true
    )]
    pub rate_limit: Option<RateLimit>,

    /// Proxies (addresses or CIDR blocks, comma-separated) whose `X-Forwarded-For` names the
    /// client, for the rate limit and the access log: the rightmost address in it that is not one
    /// of them. From any other peer the header is ignored.
    #[arg(
        long,
        env = "PROG_LANG_API_TRUSTED_PROXIES",
        value_name = "LIST",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<TrustedProxy>,

    /// Connections to PostgreSQL at most.
    #[arg(
        long,
        env = "PROG_LANG_API_DATABASE_POOL_SIZE",
        default_value = "10",
        value_name = "N",
        value_parser = clap::value_parser!(u64).range(1..=1000)
    )]
    pub database_pool_size: u64,
}

/// A database URL. It holds a password: it is never shown, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, to connect with: never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

/// Any text: clap's own message for a value it refused would quote the password, so the URL is
/// checked by `Config::check`, which never does.
impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(Self(url.to_owned()))
    }
}

/// The longest window a rate limit may have: a year.
const MAX_RATE_WINDOW_SECS: u64 = 365 * 24 * 3600;

/// A rate limit: `requests` per `seconds`, per client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub requests: std::num::NonZeroU32,
    pub seconds: std::num::NonZeroU64,
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let expected =
            || format!("expected N/SECS, two whole numbers from 1 (600/60), not {text:?}");
        let (requests, seconds) = text.split_once('/').ok_or_else(expected)?;
        let limit = Self {
            requests: requests.trim().parse().map_err(|_| expected())?,
            seconds: seconds.trim().parse().map_err(|_| expected())?,
        };
        // A window of at most a year, and at most a million requests a second: each request's
        // share of the quota comes back after a microsecond or more.
        if limit.seconds.get() > MAX_RATE_WINDOW_SECS {
            return Err(format!(
                "the window is at most {MAX_RATE_WINDOW_SECS} seconds (a year), not {}",
                limit.seconds
            ));
        }
        if u64::from(limit.requests.get()) > limit.seconds.get() * 1_000_000 {
            return Err(format!(
                "at most a million requests a second: {} in {} s is more",
                limit.requests, limit.seconds
            ));
        }
        Ok(limit)
    }
}

/// A proxy whose `X-Forwarded-For` is believed: an address, or a CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| format!("expected an address or a CIDR block (10.0.0.0/8), not {text:?}"))
    }
}

/// The format of log lines.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The environment variable that holds write tokens, comma-separated.
const WRITE_TOKENS_VARIABLE: &str = "PROG_LANG_API_WRITE_TOKENS";

impl Config {
    /// The configuration with every default, as a server started with no flags and no variables
    /// has it.
    pub fn defaults() -> Self {
        Self::parse_from([env!("CARGO_PKG_NAME")])
    }

    /// The configuration from the process's arguments and environment, or the one-line message
    /// that explains why there is none, and the exit code to stop with: 0 after `--help` or
    /// `--version`, 2 for an invalid setting.
    pub fn from_env_and_args() -> Result<Self, (String, i32)> {
        let mut config = match Self::try_parse() {
            Ok(config) => config,
            Err(error) => {
                use clap::error::ErrorKind;
                return Err(match error.kind() {
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => (error.to_string(), 0),
                    _ => {
                        let rendered = error.to_string();
                        let line = rendered.lines().next().unwrap_or("invalid arguments");
                        (
                            format!("prog-lang-api: {}", line.trim_start_matches("error: ")),
                            2,
                        )
                    }
                });
            }
        };
        config.write_tokens = config
            .read_write_tokens()
            .map_err(|message| (format!("prog-lang-api: {message}"), 2))?;
        config
            .check()
            .map_err(|message| (format!("prog-lang-api: {message}"), 2))?;
        Ok(config)
    }

    /// The tokens from the variable and the file, together. A configured source that yields no
    /// token is an error: the operator meant to protect writes and would not be.
    fn read_write_tokens(&self) -> Result<Vec<String>, String> {
        let mut tokens = Vec::new();
        if let Ok(value) = std::env::var(WRITE_TOKENS_VARIABLE) {
            let from_variable: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|token| !token.is_empty())
                .map(str::to_owned)
                .collect();
            if from_variable.is_empty() {
                return Err(format!("{WRITE_TOKENS_VARIABLE}: no token in it"));
            }
            tokens.extend(from_variable);
        }
        if let Some(path) = &self.write_tokens_file {
            let text = std::fs::read_to_string(path).map_err(|error| {
                format!(
                    "--write-tokens-file: cannot read {}: {error}",
                    path.display()
                )
            })?;
            let from_file: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned)
                .collect();
            if from_file.is_empty() {
                return Err(format!(
                    "--write-tokens-file: no token in {}",
                    path.display()
                ));
            }
            tokens.extend(from_file);
        }
        // Never echo a token: a typo in one is still most of a secret.
        if tokens.iter().any(|token| !is_token68(token)) {
            return Err(
                "write tokens: a token may hold only A-Z a-z 0-9 - . _ ~ + / and trailing = \
                 (RFC 6750's b64token)"
                    .to_owned(),
            );
        }
        Ok(tokens)
    }

    /// Checks of values clap cannot make on its own.
    fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.database_url {
            let scheme = url.expose().split_once("://").map(|(scheme, _)| scheme);
            if !matches!(scheme, Some("postgres" | "postgresql"))
                || tokio_postgres::Config::from_str(url.expose()).is_err()
            {
                return Err("--database-url: not a PostgreSQL URL \
                            (postgres://USER:PASSWORD@HOST:PORT/DATABASE)"
                    .to_owned());
            }
        }
        for origin in &self.cors_origins {
            if origin != "*" && !is_origin(origin) {
                return Err(format!(
                    "--cors-origin: {origin:?} is not an origin such as https://example.com or *"
                ));
            }
        }
        if let Some(url) = &self.contact_url
            && !url.parse::<Uri>().is_ok_and(|uri| is_web_url(&uri))
        {
            return Err(format!(
                "--contact-url: {url:?} is not an absolute http(s) URL with a host"
            ));
        }
        if let Some(address) = &self.contact_email
            && !EmailAddress::is_valid(address)
        {
            return Err(format!(
                "--contact-email: {address:?} is not an email address"
            ));
        }
        if let Some(url) = &self.public_url
            && !is_public_url(url)
        {
            return Err(format!(
                "--public-url: {url:?} is not an absolute http(s) URL with a host, nor an absolute path"
            ));
        }
        Ok(())
    }

    pub(crate) fn drain_timeout(&self) -> Duration {
        Duration::from_secs(self.drain_timeout_secs)
    }

    pub(crate) fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    pub(crate) fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub(crate) fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }
}

/// RFC 6750's `b64token`: what may follow `Bearer ` in an `Authorization` header.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// A browser origin: scheme, host and optional port, nothing else (RFC 6454), read by `http`'s URI
/// parser.
fn is_origin(origin: &str) -> bool {
    let Ok(uri) = origin.parse::<Uri>() else {
        return false;
    };
    // `http::Uri` reads `https://a` with the path `/`, as it reads `https://a/`: an origin has no
    // path at all, so the text must not hold one.
    is_web_url(&uri) && uri.path() == "/" && uri.query().is_none() && !origin.ends_with('/')
}

/// Where clients reach the API, for the spec's `servers`: an absolute http(s) URL with a host, or
/// an absolute path (not `//host`, which a client would read as a host), read by `http`'s URI
/// parser.
fn is_public_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<Uri>() else {
        return false;
    };
    if uri.scheme().is_none() {
        return uri.authority().is_none() && url.starts_with('/') && !url.starts_with("//");
    }
    is_web_url(&uri)
}

/// An absolute `http` or `https` URI with a non-empty host and no user information.
fn is_web_url(uri: &Uri) -> bool {
    matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.authority().is_some_and(|authority| {
            !authority.host().is_empty() && !authority.as_str().contains('@')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port() {
        for good in [
            "https://example.com",
            "http://localhost:8080",
            "http://[::1]:3000",
        ] {
            assert!(is_origin(good), "{good}");
        }
        for bad in [
            "example.com",
            "https://",
            "https://example.com/",
            "ftp://x",
            "https://a b",
            "https://user@example.com",
            "https://example.com?x",
        ] {
            assert!(!is_origin(bad), "{bad}");
        }
    }

    #[test]
    fn public_urls_are_absolute_web_urls_or_absolute_paths() {
        for good in [
            "https://api.example.com",
            "http://localhost:5000/",
            "https://example.com/languages/v1",
            "/",
            "/api",
        ] {
            assert!(is_public_url(good), "{good}");
        }
        for bad in [
            "http://",
            "https://",
            "ftp://x",
            "http://a b",
            "//host",
            "//host/x",
            "api",
            "",
            "https://user:pw@example.com",
            "http://:80",
        ] {
            assert!(!is_public_url(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_are_b64tokens() {
        assert!(is_token68("abc-DEF_123.~+/=="));
        for bad in ["", "a b", "a,b", "===", "tök"] {
            assert!(!is_token68(bad), "{bad}");
        }
    }
}
