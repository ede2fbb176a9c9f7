//! The events of an isolate's requests gathered into one queue send: a send costs the runtime a
//! subrequest, several times the work of the request that caused it, so the edge opens a batch,
//! lets the requests of the next few milliseconds join it, then sends it once (`edge::events`).
//! Events wait as they are and are serialised when the batch is sent, after every response
//! they came from, packed into as few messages as the bounds allow: the runtime's work per
//! message, not per send, is most of what sending costs. The bounds are those of Cloudflare
//! Queues' `sendBatch` and messages.

/// How long an open batch waits for more events before it is sent.
pub const WINDOW_MS: u64 = 50;
/// Events one batch gathers.
pub const MAX_EVENTS: usize = 100;
/// `sendBatch` takes at most 100 messages.
pub const MAX_MESSAGES: usize = 100;
/// `sendBatch` takes at most 256 KB in all; the rest is room for per-message overhead.
pub const MAX_BYTES: usize = 200 * 1024;
/// A message holds at most 128 KB (`events::MAX_MESSAGE_BYTES`, what the consumer reads back).
pub const MESSAGE_BYTES: usize = crate::events::MAX_MESSAGE_BYTES;

/// Items (events) waiting to be sent together; at most `MAX_EVENTS`.
#[derive(Debug)]
pub struct Batch<T> {
    items: Vec<T>,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch { items: Vec::new() }
    }
}

impl<T> Batch<T> {
    /// Adds one request's items, all of them or, if they would not fit, none: they are handed
    /// back, to go into a batch of their own.
    pub fn add(&mut self, items: Vec<T>) -> Result<(), Vec<T>> {
        if self.items.len() + items.len() > MAX_EVENTS {
            return Err(items);
        }
        self.items.extend(items);
        Ok(())
    }

    /// The items to send, leaving the batch empty.
    pub fn take(&mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Serialised events (JSON objects) packed, in order, into messages that are JSON arrays within
/// `MESSAGE_BYTES`; an event too large for that by itself goes alone (and the queue says so).
pub fn messages(events: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for event in events {
        // Room for the comma and the closing bracket.
        if !current.is_empty() && current.len() + event.len() + 2 > MESSAGE_BYTES {
            current.push(']');
            out.push(std::mem::take(&mut current));
        }
        current.push(if current.is_empty() { '[' } else { ',' });
        current.push_str(&event);
    }
    if !current.is_empty() {
        current.push(']');
        out.push(current);
    }
    out
}

/// Serialised messages split, in order, into sends within `MAX_MESSAGES` and `MAX_BYTES`. A
/// message over `MAX_BYTES` by itself goes alone (the queue refuses it, and says so).
pub fn sends(messages: Vec<String>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let full = current.len() >= MAX_MESSAGES || bytes + message.len() > MAX_BYTES;
        if full && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += message.len();
        current.push(message);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(n: usize, bytes: usize) -> Vec<String> {
        // Each distinct (its index first), so order is checked.
        (0..n).map(|i| format!("{i}{}", "x".repeat(bytes.saturating_sub(i.to_string().len())))).collect()
    }

    #[test]
    fn requests_join_until_the_message_bound() {
        // (items already in; the next request's items; joins?)
        for (have, add, joins) in [
            (0, 1, true),
            (99, 1, true),
            (100, 1, false),
            (98, 3, false),
            (0, MAX_EVENTS, true),
            (0, MAX_EVENTS + 1, false),
        ] {
            let mut batch = Batch::default();
            batch.add(vec![0u8; have]).unwrap();
            let result = batch.add(vec![1u8; add]);
            assert_eq!(result.is_ok(), joins, "{have} + {add}");
            match result {
                Ok(()) => assert_eq!(batch.len(), have + add),
                Err(back) => {
                    assert_eq!(back, vec![1u8; add], "handed back whole");
                    assert_eq!(batch.len(), have, "nothing of it added");
                }
            }
        }
    }

    #[test]
    fn taking_empties_the_batch_for_reuse() {
        let mut batch = Batch::default();
        batch.add(vec!["a", "b"]).unwrap();
        batch.add(vec!["c"]).unwrap();
        assert_eq!(batch.take(), vec!["a", "b", "c"]);
        assert!(batch.is_empty());
        batch.add(vec!["d"; MAX_EVENTS]).unwrap();
        assert_eq!(batch.len(), MAX_EVENTS);
    }

    #[test]
    fn sends_keep_order_within_both_bounds() {
        // (messages, bytes each; the sizes of the sends)
        for (n, bytes, expected) in [
            (0, 10, vec![]),
            (1, 10, vec![1]),
            (MAX_MESSAGES, 10, vec![MAX_MESSAGES]),
            (MAX_MESSAGES + 1, 10, vec![MAX_MESSAGES, 1]),
            (250, 10, vec![100, 100, 50]),
            // 32 KB events: six fit in 200 KB.
            (13, 32 * 1024, vec![6, 6, 1]),
            (2, MAX_BYTES / 2, vec![2]),
            (3, MAX_BYTES / 2, vec![2, 1]),
            (2, MAX_BYTES + 1, vec![1, 1]),
        ] {
            let all = messages(n, bytes);
            let split = sends(all.clone());
            assert_eq!(split.iter().map(Vec::len).collect::<Vec<_>>(), expected, "{n} × {bytes} B");
            for send in &split {
                let total: usize = send.iter().map(String::len).sum();
                assert!(send.len() == 1 || total <= MAX_BYTES, "{n} × {bytes} B: a send of {total} B");
            }
            assert_eq!(split.concat(), all, "every message once, in order");
        }
    }

    #[test]
    fn events_pack_into_arrays_within_the_message_bound() {
        // (events, bytes each; events per message)
        for (n, bytes, expected) in [
            (0, 10, vec![]),
            (1, 10, vec![1]),
            (MAX_EVENTS, 600, vec![MAX_EVENTS]),
            // 32 KB events: three fit in 128 KB with their commas and brackets.
            (7, 32 * 1024, vec![3, 3, 1]),
            // "[a,b]": two events and three bytes.
            (2, (MESSAGE_BYTES - 3) / 2, vec![2]),
            (2, (MESSAGE_BYTES - 3) / 2 + 1, vec![1, 1]),
            (2, MESSAGE_BYTES + 1, vec![1, 1]),
        ] {
            let all: Vec<String> = (0..n)
                .map(|i| format!("{{\"i\":\"{i}{}\"}}", "0".repeat(bytes.max(10) - 8 - i.to_string().len())))
                .collect();
            let packed = super::messages(all.clone());
            let mut back: Vec<String> = Vec::new();
            for (message, &count) in packed.iter().zip(&expected) {
                assert!(count == 1 || message.len() <= MESSAGE_BYTES, "{n} × {bytes} B: {} B", message.len());
                let list: Vec<serde_json::Value> = serde_json::from_str(message).unwrap();
                assert_eq!(list.len(), count, "{n} × {bytes} B");
                back.extend(list.iter().map(|v| v.to_string()));
            }
            assert_eq!(packed.len(), expected.len(), "{n} × {bytes} B");
            assert_eq!(back, all, "every event once, in order");
        }
    }
}
