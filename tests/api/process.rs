//! The binary itself: where it listens, how it refuses a bad setting, how signals stop it.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::Duration,
};

/// An upper bound for things that take milliseconds, so that a broken build fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

/// The server binary, started with `args` and `env`, and the address it announced.
pub struct Process {
    child: Child,
    pub address: String,
    _lines: mpsc::Receiver<String>,
}

pub fn start(args: &[&str], env: &[(&str, &str)]) -> Process {
    let mut child = command(args, env)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the server");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let address = loop {
        let line = lines
            .recv_timeout(PATIENCE)
            .expect("the server announces its address");
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
        }
    };
    Process {
        child,
        address,
        _lines: lines,
    }
}

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_prog-lang-api"));
    command
        .args(args)
        .env_remove("PROG_LANG_API_ADDR")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

impl Process {
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn wait(&mut self) -> ExitStatus {
        for _ in 0..PATIENCE.as_millis() / 20 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
        panic!("the server did not exit");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn health(address: &str) -> reqwest::StatusCode {
    reqwest::get(format!("{address}/healthz"))
        .await
        .expect("GET /healthz")
        .status()
}

#[tokio::test]
async fn sigterm_and_sigint_stop_the_server_with_exit_code_0() {
    for signal in ["TERM", "INT"] {
        let mut server = start(&["--addr", "127.0.0.1:0"], &[]);
        assert_eq!(health(&server.address).await, reqwest::StatusCode::OK);
        server.signal(signal);
        let status = server.wait();
        assert_eq!(status.code(), Some(0), "SIG{signal}");
    }
}

#[tokio::test]
async fn the_address_comes_from_the_variable_and_the_flag_wins() {
    let from_variable = start(&[], &[("PROG_LANG_API_ADDR", "127.0.0.1:0")]);
    assert_eq!(
        health(&from_variable.address).await,
        reqwest::StatusCode::OK
    );
    let flag_wins = start(
        &["--addr", "127.0.0.1:0"],
        &[("PROG_LANG_API_ADDR", "not an address")],
    );
    assert_eq!(health(&flag_wins.address).await, reqwest::StatusCode::OK);
}

#[test]
fn an_invalid_address_stops_the_start_with_exit_code_2() {
    let output = command(&["--addr", "nowhere"], &[])
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--addr"), "{stderr}");
}
