//! Runs the features against each target, then checks transition coverage.

use std::path::Path;

use cucumber::gherkin::{Feature, Scenario};
use cucumber::writer::Stats as _;
use cucumber::World as _;
use futures::FutureExt as _;

use crate::coverage;
use crate::world::{AuthWorld, Target};

/// Scenarios with this tag need in-process ports and run on the embedded target only.
pub const EMBEDDED_ONLY: &str = "embedded";

/// How one target's run went.
#[derive(Debug, Clone)]
pub struct TargetRun {
    pub target: Target,
    pub scenarios: usize,
    pub scenarios_passed: usize,
    pub steps_passed: usize,
    pub steps_failed: usize,
    pub steps_skipped: usize,
    pub parsing_errors: usize,
    pub hook_errors: usize,
    pub transitions_taken: usize,
}

impl TargetRun {
    fn failed(&self) -> bool {
        self.scenarios == 0
            || self.scenarios_passed != self.scenarios
            || self.steps_failed > 0
            || self.steps_skipped > 0
            || self.parsing_errors > 0
            || self.hook_errors > 0
    }
}

/// The whole run: both targets and the coverage check.
#[derive(Debug, Clone)]
pub struct Report {
    pub runs: Vec<TargetRun>,
    pub declared: usize,
    /// `flow: From --Event--> To` of every declared transition no scenario took.
    pub never_taken: Vec<String>,
    /// Taken transitions the declaration does not list.
    pub undeclared: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.runs.iter().any(TargetRun::failed)
            && self.never_taken.is_empty()
            && self.undeclared.is_empty()
    }

    pub fn summary(&self) -> String {
        let mut out = String::from("\nportcullis-specs\n");
        for r in &self.runs {
            out.push_str(&format!(
                "  {:<8} {}/{} scenarios passed; steps: {} passed, {} failed, {} skipped; \
                 {} parsing errors, {} hook errors; {}/{} transitions taken\n",
                r.target,
                r.scenarios_passed,
                r.scenarios,
                r.steps_passed,
                r.steps_failed,
                r.steps_skipped,
                r.parsing_errors,
                r.hook_errors,
                r.transitions_taken,
                self.declared,
            ));
        }
        out.push_str(&format!(
            "  coverage {}/{} declared transitions taken\n",
            self.declared - self.never_taken.len(),
            self.declared
        ));
        let scenarios: usize = self.runs.iter().map(|r| r.scenarios).sum();
        let passed: usize = self.runs.iter().map(|r| r.scenarios_passed).sum();
        out.push_str(&format!("{passed} passed, {} failed\n", scenarios - passed));
        out
    }

    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in self.runs.iter().filter(|r| r.failed()) {
            out.push(format!(
                "FAILED: the {} run: {}/{} scenarios passed, {} failed steps, {} skipped or undefined steps, {} parsing errors, {} hook errors",
                r.target, r.scenarios_passed, r.scenarios, r.steps_failed, r.steps_skipped, r.parsing_errors, r.hook_errors
            ));
        }
        if !self.never_taken.is_empty() {
            out.push("FAILED: declared transitions no scenario took:".into());
            out.extend(self.never_taken.iter().map(|t| format!("  {t}")));
        }
        if !self.undeclared.is_empty() {
            out.push("FAILED: transitions taken that are not declared:".into());
            out.extend(self.undeclared.iter().map(|t| format!("  {t}")));
        }
        out
    }
}

fn embedded_only(feature: &Feature, scenario: &Scenario) -> bool {
    feature
        .tags
        .iter()
        .chain(&scenario.tags)
        .any(|t| t == EMBEDDED_ONLY)
}

/// Runs every feature under `features` against one target.
pub async fn run_target(features: &Path, target: Target) -> TargetRun {
    let writer = AuthWorld::cucumber()
        .with_default_cli()
        .fail_on_skipped()
        .before(move |_, _, _, world| {
            async move {
                world.target = target;
            }
            .boxed_local()
        })
        .after(|_, _, _, _, world| {
            async move {
                if let Some(world) = world {
                    world.stop().await;
                }
            }
            .boxed_local()
        })
        .filter_run(features, move |feature, _, scenario| {
            target == Target::Embedded || !embedded_only(feature, scenario)
        })
        .await;
    let scenarios = writer.scenarios_stats();
    TargetRun {
        target,
        scenarios: scenarios.passed + scenarios.failed + scenarios.skipped,
        scenarios_passed: scenarios.passed,
        steps_passed: writer.passed_steps(),
        steps_failed: writer.failed_steps(),
        steps_skipped: writer.skipped_steps(),
        parsing_errors: writer.parsing_errors(),
        hook_errors: writer.hook_errors(),
        transitions_taken: coverage::taken_by(target).len(),
    }
}

/// Runs every feature against the embedded engine, then over HTTP against the real server,
/// then checks that every declared flow transition was taken.
pub async fn run(features: &Path) -> Report {
    let mut runs = Vec::new();
    for target in [Target::Embedded, Target::Http] {
        println!("\n=== features against the {target} target ===\n");
        runs.push(run_target(features, target).await);
    }
    let declared = portcullis::flow_transitions();
    let never_taken = coverage::missing(&declared)
        .into_iter()
        .map(ToString::to_string)
        .collect();
    let undeclared = coverage::undeclared(&declared)
        .into_iter()
        .map(|(flow, index)| format!("{flow}: transition #{index}"))
        .collect();
    Report {
        runs,
        declared: declared.len(),
        never_taken,
        undeclared,
    }
}
