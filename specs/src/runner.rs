//! Runs the features against each target and each store, then checks transition coverage.

use std::path::Path;
use std::time::{Duration, Instant};

use cucumber::gherkin::{Feature, Rule, Scenario};
use cucumber::writer::Stats as _;
use cucumber::World as _;
use futures::FutureExt as _;

use crate::coverage;
use crate::stores::StoreKind;
use crate::world::{AuthWorld, Target};

/// Scenarios with this tag need in-process ports and run on the embedded target only.
pub(crate) const EMBEDDED_ONLY: &str = "embedded";
/// Scenarios with this tag need the real server (a real browser drives it) and run on the
/// HTTP target only.
pub(crate) const HTTP_ONLY: &str = "http";
/// Scenarios with this tag (on them, their rule or their feature) depend on the store and
/// run once per built-in store ([`StoreKind::MATRIX`]).
pub(crate) const EVERY_STORE: &str = "stores";

/// How one run (a target, a store) went.
#[derive(Debug, Clone)]
pub struct TargetRun {
    pub target: Target,
    /// The store the run's `@stores` scenarios used.
    pub store: StoreKind,
    /// Every scenario (the main run), or only those tagged `@stores`.
    pub all_scenarios: bool,
    /// Why the run could not start (its server is missing): a failure.
    pub unavailable: Option<String>,
    pub elapsed: Duration,
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
        self.unavailable.is_some()
            || self.scenarios == 0
            || self.scenarios_passed != self.scenarios
            || self.steps_failed > 0
            || self.steps_skipped > 0
            || self.parsing_errors > 0
            || self.hook_errors > 0
    }
}

/// The whole run: both targets, every store, and the coverage check.
#[derive(Debug, Clone)]
pub struct Report {
    /// One per target and store the features ran on.
    pub runs: Vec<TargetRun>,
    /// Servers the scenarios need that do not answer (each a failure).
    pub missing_servers: Vec<String>,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// How many transitions the flows declare.
    pub declared: usize,
    /// `flow: From --Event--> To` of every declared transition no scenario took.
    pub never_taken: Vec<String>,
    /// Taken transitions the declaration does not list.
    pub undeclared: Vec<String>,
}

impl Report {
    /// Every scenario passed, every server answered, and the taken transitions are exactly
    /// the declared ones.
    pub fn passed(&self) -> bool {
        !self.runs.iter().any(TargetRun::failed)
            && self.missing_servers.is_empty()
            && self.never_taken.is_empty()
            && self.undeclared.is_empty()
    }

    /// One line per run, then the coverage and the totals.
    pub fn summary(&self) -> String {
        let mut out = String::from("\nportcullis-specs\n");
        for r in &self.runs {
            let run = format!(
                "{}/{}{}",
                r.target,
                r.store,
                if r.all_scenarios { "" } else { " @stores" }
            );
            if let Some(why) = &r.unavailable {
                out.push_str(&format!("  {run:<25} NOT RUN: {why}\n"));
                continue;
            }
            out.push_str(&format!(
                "  {run:<25} {}/{} scenarios passed in {:.1} s; steps: {} passed, {} failed, {} skipped; \
                 {} parsing errors, {} hook errors; {}/{} transitions taken\n",
                r.scenarios_passed,
                r.scenarios,
                r.elapsed.as_secs_f64(),
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
        out.push_str(&format!(
            "{passed} passed, {} failed, in {:.1} s\n",
            scenarios - passed,
            self.elapsed.as_secs_f64()
        ));
        out
    }

    /// What made the run fail, one message each.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        for why in &self.missing_servers {
            out.push(format!(
                "FAILED: a server the scenarios need is missing: {why}"
            ));
        }
        for r in self.runs.iter().filter(|r| r.failed()) {
            if let Some(why) = &r.unavailable {
                out.push(format!(
                    "FAILED: the {}/{} run did not start: {why}",
                    r.target, r.store
                ));
                continue;
            }
            out.push(format!(
                "FAILED: the {}/{} run: {}/{} scenarios passed, {} failed steps, {} skipped or undefined steps, {} parsing errors, {} hook errors",
                r.target, r.store, r.scenarios_passed, r.scenarios, r.steps_failed, r.steps_skipped, r.parsing_errors, r.hook_errors
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

fn tagged(feature: &Feature, rule: Option<&Rule>, scenario: &Scenario, tag: &str) -> bool {
    feature
        .tags
        .iter()
        .chain(rule.iter().flat_map(|r| &r.tags))
        .chain(&scenario.tags)
        .any(|t| t == tag)
}

/// Runs the features under `features` against one target: every scenario with `store`
/// for the store-dependent ones, or (`all_scenarios == false`) only those tagged `@stores`.
pub(crate) async fn run_target(
    features: &Path,
    target: Target,
    store: StoreKind,
    all_scenarios: bool,
) -> TargetRun {
    let started = Instant::now();
    let cucumber = AuthWorld::cucumber()
        .with_default_cli()
        .fail_on_skipped()
        .max_concurrent_scenarios(store.concurrency().unwrap_or(64))
        .before(move |_, _, _, world| {
            async move {
                world.target = target;
                world.store_kind = store;
            }
            .boxed_local()
        })
        .after(|_, _, _, _, world| {
            async move {
                if let Some(world) = world {
                    world.finish().await;
                }
            }
            .boxed_local()
        });
    let writer = cucumber
        .filter_run(features, move |feature, rule, scenario| {
            (target == Target::Embedded || !tagged(feature, rule, scenario, EMBEDDED_ONLY))
                && (target == Target::Http || !tagged(feature, rule, scenario, HTTP_ONLY))
                && (all_scenarios || tagged(feature, rule, scenario, EVERY_STORE))
        })
        .await;
    let scenarios = writer.scenarios_stats();
    TargetRun {
        target,
        store,
        all_scenarios,
        unavailable: None,
        elapsed: started.elapsed(),
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
/// each time with sled and then once more per other built-in store for the scenarios
/// tagged `@stores`; then checks that every declared flow transition was taken.
pub async fn run(features: &Path) -> Report {
    let started = Instant::now();
    let mut missing_servers = Vec::new();
    if let Err(why) = crate::mailbox::preflight() {
        missing_servers.push(why);
    }
    let mut runs = Vec::new();
    for target in [Target::Embedded, Target::Http] {
        for (i, store) in StoreKind::MATRIX.into_iter().enumerate() {
            let all_scenarios = i == 0;
            println!(
                "\n=== features against the {target} target, {} on {store} ===\n",
                if all_scenarios {
                    "every scenario, the store-dependent ones"
                } else {
                    "the @stores scenarios"
                }
            );
            if let Err(why) = crate::stores::preflight(store).await {
                println!("NOT RUN: {why}");
                runs.push(TargetRun {
                    target,
                    store,
                    all_scenarios,
                    unavailable: Some(why),
                    elapsed: Duration::ZERO,
                    scenarios: 0,
                    scenarios_passed: 0,
                    steps_passed: 0,
                    steps_failed: 0,
                    steps_skipped: 0,
                    parsing_errors: 0,
                    hook_errors: 0,
                    transitions_taken: 0,
                });
                continue;
            }
            runs.push(run_target(features, target, store, all_scenarios).await);
        }
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
        missing_servers,
        elapsed: started.elapsed(),
        declared: declared.len(),
        never_taken,
        undeclared,
    }
}
