//! The Prometheus text exposition format, version 0.0.4: one `# HELP` and
//! one `# TYPE` line per family, then its samples, with label values and
//! help texts escaped. It owns the format and the histogram type; what is
//! measured lives with whoever measures it.
//!
//! Written here rather than taken from `prometheus-client` because that
//! crate writes OpenMetrics (counter families typed without their `_total`
//! suffix, a closing `# EOF`), which is not what `text/plain;
//! version=0.0.4` promises its readers.

use std::fmt::Write as _;

/// The content type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The type of a family, as its `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets, a sum and a count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A document being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty document.
    pub fn new() -> Self {
        Exposition::default()
    }

    /// Starts a family; its samples follow through the returned writer.
    /// Every family is written whole before the next one starts, as the
    /// format requires.
    pub fn family(&mut self, name: &'static str, kind: Kind, help: &str) -> Family<'_> {
        debug_assert!(valid_name(name), "invalid metric name {name:?}");
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
        Family {
            out: self,
            name,
            kind,
        }
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.text
    }
}

/// Writes the samples of one family.
#[derive(Debug)]
pub struct Family<'a> {
    out: &'a mut Exposition,
    name: &'static str,
    kind: Kind,
}

impl Family<'_> {
    /// One counter or gauge sample.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        debug_assert!(
            self.kind != Kind::Histogram,
            "{}: use histogram()",
            self.name
        );
        self.line("", labels, None, value);
        self
    }

    /// The series of one histogram: cumulative buckets, `+Inf`, sum, count.
    pub fn histogram(&mut self, labels: &[(&str, &str)], histogram: &Histogram) -> &mut Self {
        debug_assert!(self.kind == Kind::Histogram, "{}: use sample()", self.name);
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count;
            self.line(
                "_bucket",
                labels,
                Some(&format_value(*bound)),
                cumulative as f64,
            );
        }
        let total = histogram.count();
        self.line("_bucket", labels, Some("+Inf"), total as f64);
        self.line("_sum", labels, None, histogram.sum);
        self.line("_count", labels, None, total as f64);
        self
    }

    fn line(&mut self, suffix: &str, labels: &[(&str, &str)], le: Option<&str>, value: f64) {
        let text = &mut self.out.text;
        text.push_str(self.name);
        text.push_str(suffix);
        let pairs = labels.iter().copied().chain(le.map(|le| ("le", le)));
        for (i, (key, value)) in pairs.enumerate() {
            debug_assert!(valid_name(key), "invalid label name {key:?}");
            text.push(if i == 0 { '{' } else { ',' });
            let _ = write!(text, "{key}=\"{}\"", escape_label(value));
        }
        if !labels.is_empty() || le.is_some() {
            text.push('}');
        }
        let _ = writeln!(text, " {}", format_value(value));
    }
}

/// Observations counted into fixed buckets.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket, not cumulative: `counts[i]` holds the observations in
    /// `(bounds[i-1], bounds[i]]`; the last holds those above every bound.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// An empty histogram over ascending upper bounds.
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "bounds ascend");
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Counts one observation.
    pub fn observe(&mut self, value: f64) {
        // Upper bounds are inclusive (`le`), hence the first bound >= value.
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`; names are constants, so this only guards
/// against typos in debug builds and tests.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Label values escape backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Help texts escape backslash and line feed only.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Rust prints infinities and NaN in its own words; the format wants
/// `+Inf`, `-Inf` and `NaN`. Finite values print without an exponent.
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_have_help_type_and_escaped_labels() {
        let mut out = Exposition::new();
        out.family(
            "things_total",
            Kind::Counter,
            "Things, by path\\name\nsecond line.",
        )
        .sample(&[("path", "a\\b"), ("name", "say \"hi\"\n")], 3.0)
        .sample(&[], 0.0);
        out.family("level", Kind::Gauge, "A level.")
            .sample(&[("x", "1")], -2.5);
        assert_eq!(
            out.finish(),
            "# HELP things_total Things, by path\\\\name\\nsecond line.\n\
             # TYPE things_total counter\n\
             things_total{path=\"a\\\\b\",name=\"say \\\"hi\\\"\\n\"} 3\n\
             things_total 0\n\
             # HELP level A level.\n\
             # TYPE level gauge\n\
             level{x=\"1\"} -2.5\n"
        );
    }

    #[test]
    fn histograms_are_cumulative_with_inclusive_bounds() {
        static BOUNDS: &[f64] = &[0.125, 1.0];
        let mut h = Histogram::new(BOUNDS);
        // Binary fractions, so the sum is exact.
        for v in [0.0625, 0.125, 0.5, 7.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 4);
        let mut out = Exposition::new();
        out.family("took_seconds", Kind::Histogram, "Time taken.")
            .histogram(&[("m", "x")], &h);
        assert_eq!(
            out.finish(),
            "# HELP took_seconds Time taken.\n\
             # TYPE took_seconds histogram\n\
             took_seconds_bucket{m=\"x\",le=\"0.125\"} 2\n\
             took_seconds_bucket{m=\"x\",le=\"1\"} 3\n\
             took_seconds_bucket{m=\"x\",le=\"+Inf\"} 4\n\
             took_seconds_sum{m=\"x\"} 7.6875\n\
             took_seconds_count{m=\"x\"} 4\n"
        );
    }

    #[test]
    fn special_values_use_the_format_spelling() {
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(0.0025), "0.0025");
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("grpc_server_handled_total"));
        assert!(valid_name("ns:sub_metric"));
        assert!(!valid_name("9lives"));
        assert!(!valid_name("has-dash"));
        assert!(!valid_name(""));
    }
}
