//! Check results: a readable summary per plugin and area on stdout,
//! JUnit XML for CI, and one JSON report per plugin.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// What was expected against what happened, with the asset and
    /// correlation id when they help.
    Failed(String),
    /// Why the check does not apply to this plugin or this server.
    Skipped(String),
}

/// One check on one plugin.
#[derive(Debug, Clone)]
pub struct CheckResult {
    pub plugin: String,
    pub id: &'static str,
    pub title: &'static str,
    pub verdict: Verdict,
    pub duration: Duration,
}

impl CheckResult {
    fn area(&self) -> &'static str {
        match self.id.split('-').next().unwrap_or("") {
            "CAP" => "capabilities",
            "LST" => "listing",
            "LCY" => "lifecycle",
            "APR" => "approvals",
            "PRM" => "promotion",
            "AUD" => "audit",
            "PRV" => "provenance",
            "BWC" => "compatibility",
            "FIX" => "fixtures",
            _ => "other",
        }
    }
}

/// Every result of the run.
#[derive(Default)]
pub struct Report {
    results: Mutex<Vec<CheckResult>>,
}

impl Report {
    pub fn add(&self, result: CheckResult) {
        let line = match &result.verdict {
            Verdict::Passed => format!("  ok    {:<7} {}", result.id, result.title),
            Verdict::Failed(why) => {
                format!("  FAIL  {:<7} {}\n          {why}", result.id, result.title)
            }
            Verdict::Skipped(why) => format!("  skip  {:<7} {} ({why})", result.id, result.title),
        };
        println!("{line}");
        self.results.lock().expect("report lock").push(result);
    }

    pub fn results(&self) -> Vec<CheckResult> {
        self.results.lock().expect("report lock").clone()
    }

    pub fn failures(&self) -> usize {
        self.results()
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Failed(_)))
            .count()
    }

    /// Passed / failed / skipped per plugin and area.
    pub fn summary(&self) -> String {
        let mut table: BTreeMap<(String, &'static str), [usize; 3]> = BTreeMap::new();
        for r in self.results() {
            let counts = table.entry((r.plugin.clone(), r.area())).or_default();
            counts[match r.verdict {
                Verdict::Passed => 0,
                Verdict::Failed(_) => 1,
                Verdict::Skipped(_) => 2,
            }] += 1;
        }
        let mut out = String::from("\nplugin         area            passed  failed  skipped\n");
        for ((plugin, area), [p, f, s]) in &table {
            let _ = writeln!(out, "{plugin:<14} {area:<15} {p:>6}  {f:>6}  {s:>7}");
        }
        let all = self.results();
        let passed = all.iter().filter(|r| r.verdict == Verdict::Passed).count();
        let _ = writeln!(
            out,
            "\n{} checks: {passed} passed, {} failed, {} skipped",
            all.len(),
            self.failures(),
            all.len() - passed - self.failures()
        );
        out
    }

    /// JUnit XML: one test suite per plugin, one test case per check.
    pub fn write_junit(&self, path: &Path) -> std::io::Result<()> {
        let mut by_plugin: BTreeMap<String, Vec<CheckResult>> = BTreeMap::new();
        for r in self.results() {
            by_plugin.entry(r.plugin.clone()).or_default().push(r);
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"catalog-conformance\">\n");
        for (plugin, results) in &by_plugin {
            let failures = results
                .iter()
                .filter(|r| matches!(r.verdict, Verdict::Failed(_)))
                .count();
            let skipped = results
                .iter()
                .filter(|r| matches!(r.verdict, Verdict::Skipped(_)))
                .count();
            let time: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
            let _ = writeln!(
                xml,
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
                escape(plugin),
                results.len()
            );
            for r in results {
                let _ = write!(
                    xml,
                    "    <testcase classname=\"{}.{}\" name=\"{} {}\" time=\"{:.3}\"",
                    escape(plugin),
                    r.area(),
                    r.id,
                    escape(r.title),
                    r.duration.as_secs_f64()
                );
                match &r.verdict {
                    Verdict::Passed => xml.push_str("/>\n"),
                    Verdict::Failed(why) => {
                        let _ = writeln!(
                            xml,
                            ">\n      <failure message=\"{}\"/>\n    </testcase>",
                            escape(why)
                        );
                    }
                    Verdict::Skipped(why) => {
                        let _ = writeln!(
                            xml,
                            ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                            escape(why)
                        );
                    }
                }
            }
            xml.push_str("  </testsuite>\n");
        }
        xml.push_str("</testsuites>\n");
        std::fs::write(path, xml)
    }

    /// `<dir>/<plugin>.json` for each plugin.
    pub fn write_json(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut by_plugin: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for r in self.results() {
            let (status, detail) = match &r.verdict {
                Verdict::Passed => ("passed", None),
                Verdict::Failed(why) => ("failed", Some(why.clone())),
                Verdict::Skipped(why) => ("skipped", Some(why.clone())),
            };
            by_plugin.entry(r.plugin.clone()).or_default().push(json!({
                "id": r.id, "area": r.area(), "title": r.title, "status": status, "detail": detail,
                "durationMs": r.duration.as_millis() as u64,
            }));
        }
        for (plugin, checks) in by_plugin {
            let text = serde_json::to_string_pretty(&json!({"plugin": plugin, "checks": checks}))?;
            std::fs::write(dir.join(format!("{plugin}.json")), text + "\n")?;
        }
        Ok(())
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
