//! Feeding a CLI process its stdin in tests, shared by the CLI and e2e suites.

use std::io::Write;
use std::process::Child;

/// Writes `input` to the child's stdin and closes it. A command that refuses its arguments exits
/// without reading stdin: a broken pipe then is the race between that exit and this write, not
/// a failure.
pub fn feed(child: &mut Child, input: &str) {
    let mut stdin = child.stdin.take().expect("the child was spawned with a piped stdin");
    if let Err(e) = stdin.write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing the command's stdin: {e}");
    }
}
