//! Forwards a pack's `tracing` events into the host. A cdylib has its own copy of `tracing`'s
//! global dispatcher, so the host's subscriber never sees them unless the pack sends them over.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use abi_stable::std_types::RStr;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use crate::pack::LogSink;
use crate::types::LogLevel;

struct Forwarder {
    sink: LogSink,
    next_span: AtomicU64,
}

#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let text = format!("{value:?}");
            self.0.insert_str(0, &text);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

fn level(l: &Level) -> LogLevel {
    match *l {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

impl Subscriber for Forwarder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut msg = Message::default();
        event.record(&mut msg);
        let meta = event.metadata();
        (self.sink.log)(
            level(meta.level()),
            RStr::from(meta.target()),
            RStr::from(msg.0.as_str()),
        );
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Installs the forwarding subscriber as this pack's global default (once; later calls are
/// ignored, as `tracing` allows one global default per copy of the crate).
pub fn install(sink: LogSink) {
    let _ = tracing::subscriber::set_global_default(Forwarder {
        sink,
        next_span: AtomicU64::new(1),
    });
}
