//! The events of an isolate's requests gathered into one queue send: a send costs the runtime a
//! subrequest, several times the work of the request that caused it, so the edge opens a batch,
//! lets the requests of the next few milliseconds join it, then sends it once (`edge::events`).
//! Its bounds are those of Cloudflare Queues' `sendBatch`.

/// How long an open batch waits for more events before it is sent.
pub const WINDOW_MS: u64 = 50;
/// `sendBatch` takes at most 100 messages.
pub const MAX_MESSAGES: usize = 100;
/// `sendBatch` takes at most 256 KB in all; the rest is room for per-message overhead.
pub const MAX_BYTES: usize = 200 * 1024;

/// Queue messages (events as JSON) waiting to be sent together.
#[derive(Debug, Default)]
pub struct Batch {
    messages: Vec<String>,
    bytes: usize,
}

impl Batch {
    /// Adds one request's messages, all of them or, if they would not fit, none: they are
    /// handed back, to go into a batch of their own.
    pub fn add(&mut self, messages: Vec<String>) -> Result<(), Vec<String>> {
        let bytes: usize = messages.iter().map(String::len).sum();
        if self.messages.len() + messages.len() > MAX_MESSAGES || self.bytes + bytes > MAX_BYTES {
            return Err(messages);
        }
        self.messages.extend(messages);
        self.bytes += bytes;
        Ok(())
    }

    /// The messages to send, leaving the batch empty.
    pub fn take(&mut self) -> Vec<String> {
        self.bytes = 0;
        std::mem::take(&mut self.messages)
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(n: usize, bytes: usize) -> Vec<String> {
        (0..n).map(|_| "x".repeat(bytes)).collect()
    }

    #[test]
    fn requests_join_until_a_bound_is_reached() {
        // (messages already in, bytes each; the next request's messages, bytes each; joins?)
        for (have, have_bytes, add, add_bytes, joins) in [
            (0, 0, 1, 1500, true),
            (99, 1500, 1, 1500, true),
            (100, 1500, 1, 10, false),
            (98, 100, 3, 100, false),
            (0, 0, MAX_MESSAGES, 10, true),
            (0, 0, MAX_MESSAGES + 1, 10, false),
            (1, MAX_BYTES - 10, 1, 10, true),
            (1, MAX_BYTES - 10, 1, 11, false),
            (0, 0, 1, MAX_BYTES + 1, false),
        ] {
            let mut batch = Batch::default();
            if have > 0 {
                batch.add(messages(have - 1, 0)).unwrap();
                batch.add(vec!["x".repeat(have_bytes)]).unwrap();
            }
            let before = batch.len();
            let result = batch.add(messages(add, add_bytes));
            assert_eq!(result.is_ok(), joins, "{have}×{have_bytes} + {add}×{add_bytes}");
            match result {
                Ok(()) => assert_eq!(batch.len(), before + add),
                Err(back) => {
                    assert_eq!(back, messages(add, add_bytes), "handed back whole");
                    assert_eq!(batch.len(), before, "nothing of it added");
                }
            }
        }
    }

    #[test]
    fn taking_empties_the_batch_for_reuse() {
        let mut batch = Batch::default();
        batch.add(vec!["a".into(), "b".into()]).unwrap();
        batch.add(vec!["c".into()]).unwrap();
        assert_eq!(batch.take(), vec!["a", "b", "c"]);
        assert!(batch.is_empty());
        batch.add(messages(MAX_MESSAGES, MAX_BYTES / MAX_MESSAGES)).unwrap();
        assert_eq!(batch.len(), MAX_MESSAGES, "the byte count restarted too");
    }
}
