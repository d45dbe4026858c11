//! Clients of the runtime's socket ([`super::cri`]): an async one for the kubelet and a blocking
//! one for `crictl` and `ctr`. Each call opens a connection, sends one request line and reads one
//! response line (a long `StopContainer` does not hold up other calls).

use std::io::{BufRead, BufReader as StdBufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::cri::{Reply, Request, Response, RpcError};

/// A call to the runtime failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeClientError {
    /// The socket could not be reached (runtime down, or no permission).
    #[error("dial unix {path}: connect: {reason}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Go-style reason (`no such file or directory`, `permission denied`, …).
        reason: String,
    },
    /// The runtime answered with an error.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The connection broke or the answer was not understood.
    #[error("runtime connection to {path}: {detail}")]
    Protocol {
        /// The socket path.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The runtime did not answer in time.
    #[error("runtime call {method} timed out after {secs} s")]
    Timeout {
        /// The method.
        method: String,
        /// Seconds waited.
        secs: u64,
    },
}

impl RuntimeClientError {
    /// The gRPC-style code of a runtime error (`NotFound`, `Unknown`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            RuntimeClientError::Rpc(e) => Some(&e.code),
            _ => None,
        }
    }
}

/// Go's text for an I/O error of `connect(2)`.
pub fn go_errno_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

fn method_name(req: &Request) -> String {
    serde_json::to_value(req)
        .ok()
        .and_then(|v| v["method"].as_str().map(str::to_string))
        .unwrap_or_default()
}

fn decode(path: &Path, line: &str) -> Result<Reply, RuntimeClientError> {
    let resp: Response = serde_json::from_str(line).map_err(|e| RuntimeClientError::Protocol {
        path: path.to_path_buf(),
        detail: format!("bad response: {e}"),
    })?;
    match (resp.result, resp.error) {
        (_, Some(e)) => Err(RuntimeClientError::Rpc(e)),
        (Some(r), None) => Ok(r),
        (None, None) => Err(RuntimeClientError::Protocol {
            path: path.to_path_buf(),
            detail: "empty response".into(),
        }),
    }
}

/// The async client (the kubelet's `remote_runtime.go`).
#[derive(Debug, Clone)]
pub struct RuntimeClient {
    path: PathBuf,
    timeout: Duration,
}

impl RuntimeClient {
    /// A client of the socket at `path` (a `unix://` endpoint is accepted too), with the kubelet's
    /// `runtimeRequestTimeout` (2 min by default).
    pub fn new(endpoint: &str, timeout: Duration) -> RuntimeClient {
        RuntimeClient {
            path: PathBuf::from(endpoint.trim_start_matches("unix://")),
            timeout,
        }
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One call.
    ///
    /// # Errors
    /// [`RuntimeClientError`].
    pub async fn call(&self, req: Request) -> Result<Reply, RuntimeClientError> {
        let method = method_name(&req);
        let fut = async {
            let mut s =
                UnixStream::connect(&self.path)
                    .await
                    .map_err(|e| RuntimeClientError::Connect {
                        path: self.path.clone(),
                        reason: go_errno_text(&e),
                    })?;
            let mut line = serde_json::to_string(&req).expect("requests serialise");
            line.push('\n');
            let proto = |e: std::io::Error| RuntimeClientError::Protocol {
                path: self.path.clone(),
                detail: e.to_string(),
            };
            s.write_all(line.as_bytes()).await.map_err(proto)?;
            let mut r = BufReader::new(s);
            let mut answer = String::new();
            r.read_line(&mut answer).await.map_err(proto)?;
            if answer.is_empty() {
                return Err(RuntimeClientError::Protocol {
                    path: self.path.clone(),
                    detail: "connection closed without an answer".into(),
                });
            }
            decode(&self.path, &answer)
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(RuntimeClientError::Timeout {
                method,
                secs: self.timeout.as_secs(),
            }),
        }
    }
}

/// One blocking call (for the CLIs).
///
/// # Errors
/// [`RuntimeClientError`].
pub fn call_blocking(path: &Path, req: &Request) -> Result<Reply, RuntimeClientError> {
    let mut s =
        std::os::unix::net::UnixStream::connect(path).map_err(|e| RuntimeClientError::Connect {
            path: path.to_path_buf(),
            reason: go_errno_text(&e),
        })?;
    let proto = |e: std::io::Error| RuntimeClientError::Protocol {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let mut line = serde_json::to_string(req).expect("requests serialise");
    line.push('\n');
    s.write_all(line.as_bytes()).map_err(proto)?;
    let mut r = StdBufReader::new(s);
    let mut answer = String::new();
    r.read_line(&mut answer).map_err(proto)?;
    if answer.is_empty() {
        return Err(RuntimeClientError::Protocol {
            path: path.to_path_buf(),
            detail: "connection closed without an answer".into(),
        });
    }
    decode(path, &answer)
}
