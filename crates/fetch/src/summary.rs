//! The end-of-run summary: counts by status class and by error kind, wall
//! time and URLs/s.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::record::{ErrorKind, Record};

/// Running totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records written.
    pub records: u64,
    /// Records per status class (`2xx` ...), for records with a status and no error.
    pub by_class: BTreeMap<String, u64>,
    /// Records per error kind.
    pub by_error: BTreeMap<ErrorKind, u64>,
    /// Jobs cancelled by Ctrl-C (no record written).
    pub cancelled: u64,
    /// Total body bytes read.
    pub bytes_read: u64,
}

impl Tally {
    /// Counts one written record.
    pub fn add(&mut self, r: &Record) {
        self.records += 1;
        self.bytes_read += r.bytes_read;
        if let Some(e) = &r.error {
            *self.by_error.entry(e.kind).or_default() += 1;
        } else if let Some(s) = r.status {
            *self.by_class.entry(format!("{}xx", s / 100)).or_default() += 1;
        }
    }

    /// Records that carry an error.
    pub fn errors(&self) -> u64 {
        self.by_error.values().sum()
    }

    /// The human summary printed on stderr.
    pub fn render(&self, wall: Duration) -> String {
        let secs = wall.as_secs_f64();
        let rate = if secs > 0.0 {
            self.records as f64 / secs
        } else {
            0.0
        };
        let classes: Vec<String> = self
            .by_class
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let errors: Vec<String> = self
            .by_error
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut s = format!(
            "fetch-titles: {} URLs in {secs:.2}s ({rate:.1} URLs/s), {} body bytes read\n  status: {}\n  errors: {}",
            self.records,
            self.bytes_read,
            if classes.is_empty() {
                "none".to_owned()
            } else {
                classes.join(" ")
            },
            if errors.is_empty() {
                "none".to_owned()
            } else {
                errors.join(" ")
            },
        );
        if self.cancelled > 0 {
            s.push_str(&format!(
                "\n  interrupted: {} in-flight URLs cancelled (no record written)",
                self.cancelled
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordError;

    #[test]
    fn counts_classes_and_kinds() {
        let mut t = Tally::default();
        t.add(&Record {
            status: Some(200),
            ..Record::default()
        });
        t.add(&Record {
            status: Some(404),
            ..Record::default()
        });
        t.add(&Record {
            error: Some(RecordError {
                kind: ErrorKind::Timeout,
                message: String::new(),
            }),
            ..Record::default()
        });
        assert_eq!(t.errors(), 1);
        let text = t.render(Duration::from_secs(1));
        assert!(text.contains("3 URLs"), "{text}");
        assert!(text.contains("2xx=1 4xx=1"), "{text}");
        assert!(text.contains("timeout=1"), "{text}");
    }
}
