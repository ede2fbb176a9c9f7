//! Why a command failed, and the process exit code that tells scripts which kind of failure it was.

use std::fmt;

/// Process exit codes; the numbers are part of the CLI's documented interface (docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The command did not do what was asked: KV error, conflict, missing record, refused.
    Failure = 1,
    /// Bad flags or input: nothing was written.
    Usage = 2,
    /// Diagnosis: a registry rejected the credentials (license or upstream credential).
    CredentialsRejected = 3,
    /// Diagnosis: repository, manifest or blob not found.
    NotFound = 4,
    /// Diagnosis: a registry answered 429.
    RateLimited = 5,
    /// Diagnosis: connection, TLS or DNS failure.
    Network = 6,
    /// Diagnosis: the image is outside the upstream's allow-patterns or the license's entitlements.
    NotEntitled = 7,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Stable machine name for `--json` error objects.
    pub fn as_str(self) -> &'static str {
        match self {
            Exit::Failure => "failure",
            Exit::Usage => "usage",
            Exit::CredentialsRejected => "credentials_rejected",
            Exit::NotFound => "not_found",
            Exit::RateLimited => "rate_limited",
            Exit::Network => "network",
            Exit::NotEntitled => "not_entitled",
        }
    }
}

/// A failed command: what went wrong, and how to fix it when we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    pub hint: Option<String>,
    /// The command already printed its result (a diagnosis report); only the exit code is left.
    pub reported: bool,
}

impl Failure {
    /// Invalid input (exit 2); the message says what was wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { exit: Exit::Usage, message: message.into(), hint: None, reported: false }
    }

    /// The command could not be carried out (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Failure { exit: Exit::Failure, message: message.into(), hint: None, reported: false }
    }

    pub fn with_exit(exit: Exit, message: impl Into<String>) -> Self {
        Failure { exit, message: message.into(), hint: None, reported: false }
    }

    /// The exit code of a report already printed (diagnoses): `message` goes to stderr only.
    pub fn after_report(exit: Exit, message: impl Into<String>) -> Self {
        Failure { reported: true, ..Failure::with_exit(exit, message) }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl From<pullgate::keys::KeyError> for Failure {
    fn from(e: pullgate::keys::KeyError) -> Self {
        Failure::failed(e.to_string())
    }
}

/// `Result` with a `Failure`.
pub type Outcome<T> = Result<T, Failure>;
