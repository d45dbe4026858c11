//! The labs entry: `cargo test --test labs -- [cucumber options] [labs options]`.
//!
//! Chooses the provider (real minikube or labsim), checks its prerequisites, builds labsim when it
//! is used, then runs the features with one [`Lab`](k8s_labs::lab::Lab) per scenario. Writes
//! cucumber JSON and per-scenario transcripts under the run's reports folder, and prints that
//! folder at the end.

mod apiserver;
mod cluster;
mod common;
mod etcd;
mod kubeadm;
mod node;
mod resiliency;
mod runtime;
mod workload;
mod world;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use cucumber::event::ScenarioFinished;
use cucumber::writer::Coloring;
use cucumber::{World as _, WriterExt as _, cli, writer};
use futures::FutureExt as _;
use k8s_labs::cleanup::Urgency;
use k8s_labs::deadline::{self, Deadlines};
use k8s_labs::gates::{self, Gated};
use k8s_labs::lab::Cleanup;
use k8s_labs::provisioning::{self, Scripts};
use k8s_labs::redact::Redactor;
use k8s_labs::report::{self, ScenarioKey};
use k8s_labs::reports::{Reports, new_run_id};
use k8s_labs::run::Run;
use k8s_labs::settings::{
    LABSIM_BANNER, MINIKUBE_ENV, ProviderChoice, ProviderKind, Settings, Timing, choose_provider,
    which,
};
use k8s_labs::versions::K8sVersion;
use k8s_labs::{labsim, preflight};

use crate::world::LabWorld;

/// The labs' own options, on top of cucumber's.
#[derive(cli::Args, Debug, Clone)]
struct LabsCli {
    /// Provider: `minikube` (real, docker driver) or `labsim` (offline stand-in). Default:
    /// minikube when configured (--minikube, LABS_MINIKUBE) or on PATH, else labsim.
    #[arg(long, value_name = "minikube|labsim")]
    provider: Option<ProviderKind>,
    /// The minikube binary (also LABS_MINIKUBE).
    #[arg(long, value_name = "PATH")]
    minikube: Option<PathBuf>,
    /// Base name of the minikube profiles the run creates (concurrent scenarios add -2, -3, …).
    #[arg(long, value_name = "NAME", default_value = "k8s-labs")]
    profile: String,
    /// Kubernetes version X.Y the cluster is built with (exported as KUBERNETES_VERSION).
    #[arg(long = "k8s-version", value_name = "X.Y", default_value_t = K8sVersion::default())]
    k8s_version: K8sVersion,
    /// Timing profile: `default` (Kubernetes defaults) or `fast` (short grace periods).
    #[arg(long, value_name = "default|fast", default_value_t = Timing::Default)]
    timing: Timing,
    /// Folder for this run's reports (default: reports/<run-id>).
    #[arg(long, value_name = "DIR")]
    reports: Option<PathBuf>,
    /// Keep a failed scenario's minikube profile for inspection (prints how to reach and delete it).
    #[arg(long)]
    keep_on_failure: bool,
    /// Provisioning scripts: `ours` (fixtures/scripts, versioned) or `published` (the course's
    /// academy.learnk8s.io scripts, real minikube only).
    #[arg(long, value_name = "ours|published", default_value_t = Scripts::Ours)]
    scripts: Scripts,
    /// Fail a scenario when one of the course's claims drifted (claims are only reported
    /// otherwise).
    #[arg(long)]
    strict_claims: bool,
    /// How long one step may take (e.g. 90s, 15m, 1h). Default: the time the provider needs to
    /// build the course's cluster plus twice the timing profile's eviction time (labsim fast:
    /// 11 min).
    #[arg(long, value_name = "DURATION", value_parser = deadline::parse_duration)]
    step_timeout: Option<Duration>,
    /// How long one scenario may take. Default: three step timeouts.
    #[arg(long, value_name = "DURATION", value_parser = deadline::parse_duration)]
    scenario_timeout: Option<Duration>,
}

/// The CLI of the writer chain below (terminal output teed with cucumber JSON and the reports'
/// collector).
type LabsWriterCli = cli::Compose<cli::Compose<writer::basic::Cli, cli::Empty>, cli::Empty>;

static RUN: OnceLock<Run> = OnceLock::new();

/// How the labs ended, before the final clean-up.
enum Ended {
    /// The features ran (or the set-up failed) and the labs returned.
    Finished(anyhow::Result<ExitCode>),
    /// A signal stopped them.
    Interrupted(Signal),
}

fn main() -> ExitCode {
    // One TLS stack: rustls with ring, for kube-rs and everything else.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let opts = cli::Opts::<_, _, _, LabsCli>::parsed();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reports_dir = opts
        .custom
        .reports
        .clone()
        .unwrap_or_else(|| root.join("reports").join(new_run_id()));
    let mut signals = {
        let _entered = runtime.enter();
        Signals::install()
    };
    let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(async {
            tokio::select! {
                result = labs(opts, root, &reports_dir) => Ended::Finished(result),
                signal = signals.next() => Ended::Interrupted(signal),
            }
        })
    }));
    // Whatever happened, the labs' future is gone now: every process it had started was killed
    // with its process group (runner.rs). What outlives processes is released below.
    let code = runtime.block_on(conclude(ended, &mut signals));
    // Every run that wrote reports ends by naming their folder.
    if reports_dir.exists() {
        println!("reports: {}", reports_dir.display());
    }
    code
}

/// Releases what the run still holds and decides the exit code: after an interruption, an
/// orderly clean-up that a second SIGINT or SIGTERM turns into a fast one; after a panic or an
/// error, the same clean-up; then the clusters kept for inspection are listed.
async fn conclude(ended: std::thread::Result<Ended>, signals: &mut Signals) -> ExitCode {
    let (code, interrupted) = match ended {
        Ok(Ended::Finished(Ok(code))) => (code, false),
        Ok(Ended::Finished(Err(e))) => {
            eprintln!("k8s-labs: {e:#}");
            (ExitCode::FAILURE, false)
        }
        Ok(Ended::Interrupted(signal)) => {
            eprintln!(
                "k8s-labs: {signal}: stopped the run; cleaning up what it created (again to clean up fast)"
            );
            (ExitCode::from(signal.exit_code()), true)
        }
        Err(_) => {
            eprintln!("k8s-labs: the harness panicked (above); cleaning up what the run created");
            (ExitCode::from(101), false)
        }
    };
    let Some(run) = RUN.get() else {
        // The run was never set up: it created nothing that outlives it.
        return code;
    };
    let fast = sweep(run, signals).await;
    if interrupted && !fast {
        // The scenarios that finished before the interruption, in the usual reports.
        match run.write_reports() {
            Ok(written) => {
                if let Some(html) = written.iter().find(|p| p.ends_with(report::REPORT_HTML)) {
                    eprintln!("k8s-labs: report of what ran: {}", html.display());
                }
            }
            Err(e) => eprintln!("k8s-labs: cannot write the reports: {e}"),
        }
    }
    for kept in run.kept() {
        eprintln!("k8s-labs: {kept}");
    }
    code
}

/// Releases everything the run still holds, in order; a signal meanwhile switches to the fast
/// clean-up (everything at once). Returns whether it went fast. Prints each release.
async fn sweep(run: &Run, signals: &mut Signals) -> bool {
    let print = |released: Vec<k8s_labs::cleanup::Released>| {
        for r in released {
            eprintln!("k8s-labs: cleanup: {r}");
        }
    };
    let orderly = run.release_all(Urgency::Orderly);
    let signal = tokio::select! {
        released = orderly => {
            print(released);
            return false;
        }
        signal = signals.next() => signal,
    };
    eprintln!("k8s-labs: {signal} again: cleaning up fast (everything at once)");
    let fast = run.release_all(Urgency::Fast);
    tokio::pin!(fast);
    loop {
        tokio::select! {
            released = &mut fast => {
                print(released);
                break;
            }
            signal = signals.next() => eprintln!(
                "k8s-labs: {signal}: still cleaning up ({}); SIGKILL would leave it behind",
                run.registry().pending().join(", ")
            ),
        }
    }
    let left = run.registry().pending();
    let left: Vec<&String> = left.iter().filter(|p| !p.ends_with("(kept)")).collect();
    if !left.is_empty() {
        eprintln!(
            "k8s-labs: could not release: {}",
            left.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    true
}

/// SIGINT and SIGTERM, caught for the whole run (the second one too).
struct Signals {
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

/// A signal the run was stopped by.
#[derive(Debug, Clone, Copy)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// The exit code of a process ended by it (128 + its number, as a shell reports it).
    fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "interrupted (SIGINT)",
            Signal::Terminate => "terminated (SIGTERM)",
        })
    }
}

impl Signals {
    /// Installs the handlers (inside the runtime).
    fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        Self {
            streams: signal(SignalKind::interrupt())
                .ok()
                .zip(signal(SignalKind::terminate()).ok()),
        }
    }

    /// The next SIGINT or SIGTERM (never, without handlers).
    async fn next(&mut self) -> Signal {
        let Some((int, term)) = &mut self.streams else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => Signal::Interrupt,
            _ = term.recv() => Signal::Terminate,
        }
    }
}

/// The step definitions, each run under the step and scenario deadlines ([`timed_step`]).
fn timed_steps() -> cucumber::step::Collection<LabWorld> {
    use cucumber::codegen::{StepConstructor as _, WorldInventory, inventory};
    let mut steps = cucumber::step::Collection::new();
    for s in inventory::iter::<<LabWorld as WorldInventory>::Given> {
        let (loc, regex, _) = s.inner();
        steps = steps.given(Some(loc), regex(), timed_step);
    }
    for s in inventory::iter::<<LabWorld as WorldInventory>::When> {
        let (loc, regex, _) = s.inner();
        steps = steps.when(Some(loc), regex(), timed_step);
    }
    for s in inventory::iter::<<LabWorld as WorldInventory>::Then> {
        let (loc, regex, _) = s.inner();
        steps = steps.then(Some(loc), regex(), timed_step);
    }
    steps
}

/// The step definitions as written (what [`timed_step`] runs).
static DEFINED: std::sync::LazyLock<cucumber::step::Collection<LabWorld>> =
    std::sync::LazyLock::new(<LabWorld as cucumber::World>::collection);

/// Runs the definition matching the step under the earlier of the step's and the scenario's
/// deadline; past it the step fails saying what it was waiting for (what it ran is killed).
fn timed_step(
    world: &mut LabWorld,
    ctx: cucumber::step::Context,
) -> futures::future::LocalBoxFuture<'_, ()> {
    Box::pin(async move {
        let (step, ..) = DEFINED
            .find(&ctx.step)
            .expect("the timed collection has the definitions' own expressions")
            .expect("a step reaches its definition only when one matches");
        let step = *step;
        let deadlines = RUN.get().map_or_else(
            || Deadlines::for_run(ProviderKind::Labsim, Timing::Default),
            Run::deadlines,
        );
        let limit = deadlines.limit_for_step(world.started());
        if let Err(e) = deadline::run_within(limit, step(world, ctx)).await {
            panic!("{e}");
        }
    })
}

/// Parses the features the run would run (`--input`, else `features/`), checks that each step has
/// exactly one definition, and that the YAML fixtures are Kubernetes objects.
fn lint(root: &Path, parser: &cucumber::parser::basic::Cli) -> anyhow::Result<()> {
    use cucumber::Parser as _;
    use cucumber::codegen::{StepConstructor as _, WorldInventory, inventory};
    use cucumber::gherkin::StepType;
    use k8s_labs::lint::{self, Definition};

    let features: Vec<Result<cucumber::gherkin::Feature, String>> =
        futures::executor::block_on_stream(
            cucumber::parser::Basic::new().parse(root.join("features"), parser.clone()),
        )
        .map(|f| f.map_err(|e| lint::describe_parse_error(&e)))
        .collect();
    let mut defs = Vec::new();
    let mut add = |ty: StepType, regex: &cucumber::codegen::Regex| {
        let regex = regex::Regex::new(regex.as_str()).expect("cucumber compiled it already");
        defs.push(Definition { ty, regex });
    };
    for s in inventory::iter::<<LabWorld as WorldInventory>::Given> {
        add(StepType::Given, &(s.inner().1)());
    }
    for s in inventory::iter::<<LabWorld as WorldInventory>::When> {
        add(StepType::When, &(s.inner().1)());
    }
    for s in inventory::iter::<<LabWorld as WorldInventory>::Then> {
        add(StepType::Then, &(s.inner().1)());
    }
    lint::check_features(&features, &defs)?;
    lint::check_fixtures(&k8s_labs::fixtures::dir())?;
    Ok(())
}

/// Sets the run up and runs the features.
async fn labs(
    opts: cli::Opts<
        cucumber::parser::basic::Cli,
        cucumber::runner::basic::Cli,
        LabsWriterCli,
        LabsCli,
    >,
    root: &Path,
    reports_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let custom = opts.custom.clone();
    // Mistakes in the features or fixtures fail here, before anything is created.
    lint(root, &opts.parser)?;
    let reports = Reports::create(reports_dir)?;

    let env_minikube = std::env::var_os(MINIKUBE_ENV).map(PathBuf::from);
    let choice = choose_provider(
        custom.provider,
        custom.minikube.clone(),
        env_minikube,
        which("minikube"),
    );
    let mut settings = Settings {
        provider: ProviderKind::Labsim,
        minikube: PathBuf::new(),
        profile: custom.profile.clone(),
        k8s_version: custom.k8s_version,
        timing: custom.timing,
        keep_on_failure: custom.keep_on_failure,
        scripts: custom.scripts,
    };
    if let ProviderChoice::Minikube(binary) = &choice {
        settings.provider = ProviderKind::Minikube;
        settings.minikube = binary.clone().unwrap_or_else(|| PathBuf::from("minikube"));
    }
    if choice == (ProviderChoice::Labsim { banner: true }) {
        eprintln!("{LABSIM_BANNER}");
    }
    provisioning::check(settings.scripts, settings.provider)?;
    let mut run = Run::new(settings, reports, Redactor::new());
    run.set_strict_claims(custom.strict_claims);
    let deadlines = Deadlines::for_run(run.settings().provider, run.settings().timing)
        .overridden(custom.step_timeout, custom.scenario_timeout);
    run.set_deadlines(deadlines);
    k8s_labs::progress::install(k8s_labs::progress::Progress::stderr(run.redactor().clone()));
    let setup = run.setup_runner()?;

    let started = std::time::Instant::now();
    match &choice {
        ProviderChoice::Minikube(binary) => {
            preflight::check_minikube(binary.as_deref(), &setup).await?
        }
        ProviderChoice::Labsim { .. } => preflight::check_labsim()?,
    }
    eprintln!(
        "k8s-labs: preflight passed for {} in {:.1?}",
        run.settings().provider,
        started.elapsed()
    );
    let minikube = match choice {
        ProviderChoice::Minikube(_) => run.settings().minikube.clone(),
        ProviderChoice::Labsim { .. } => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            eprintln!("k8s-labs: building labsim ({cargo} build -p labsim)…");
            let labsim = labsim::build(&setup, &cargo, &root.join("Cargo.toml")).await?;
            labsim::link_as_minikube(&labsim, &run.reports().root().join("bin"))?
        }
    };
    run.set_minikube(minikube);
    run.record_environment(root).await?;
    let run = RUN.get_or_init(|| run);
    let s = run.settings();
    eprintln!(
        "k8s-labs: provider {} ({}), Kubernetes {}, timing {}, profile {}",
        s.provider,
        s.minikube.display(),
        s.k8s_version,
        s.timing,
        s.profile
    );

    let json_path = run.reports().root().join(report::CUCUMBER_JSON);
    let json = report::RedactedFile::create(&json_path, run.redactor().clone())
        .with_context(|| format!("cannot create {}", json_path.display()))?;
    let cucumber =
        LabWorld::cucumber::<PathBuf>()
            .steps(timed_steps())
            // Version gates (`@k8s(...)`) for this run's Kubernetes version: see harness/gates.rs.
            .with_parser(Gated::new(
                // Features in the course's order: the course's cluster is built once and shared.
                k8s_labs::course::CourseOrder::new(cucumber::parser::Basic::new()),
                s.k8s_version,
            ))
            .with_writer(
                writer::Basic::raw(std::io::stdout(), Coloring::Auto, 0)
                    .summarized()
                    .tee::<LabWorld, _>(writer::Json::for_tee(json))
                    .tee::<LabWorld, _>(
                        run.collector()
                            .discard_stats_writes()
                            .discard_arbitrary_writes(),
                    )
                    .normalized(),
            )
            .fail_on_skipped_with(gates::should_fail_on_skipped)
            .max_concurrent_scenarios(1)
            .before(move |feature, _rule, scenario, world| {
                async move {
                    let lease = run.lease_profile();
                    let mut lab = run
                        .new_lab(&feature.name, &scenario.name, &lease)
                        .unwrap_or_else(|e| panic!("cannot set up the scenario's lab: {e}"));
                    // The course's cluster an earlier scenario left, for `Given a cluster where …`.
                    lab.offer(run.take_kept());
                    world.begin(lab, lease);
                }
                .boxed_local()
            })
            .after(move |feature, _rule, scenario, finished, world| {
                async move {
                let failed = !matches!(finished, ScenarioFinished::StepPassed);
                let Some(world) = world else { return };
                let lease = world.take_lease();
                let Some(mut lab) = world.take_lab() else { return };
                run.conclude_lab(ScenarioKey::of(feature, scenario), &mut lab, failed)
                    .await;
                match lab.finish(failed, lease).await {
                    Ok((cleanup, unused)) => {
                        // A kept cluster this scenario did not use is offered to the next one;
                        // the run keeps one cluster at a time, so one it replaces is deleted.
                        for kept in unused.into_iter().chain(match cleanup {
                            Cleanup::Reused(kept) => Some(*kept),
                            Cleanup::Kept(ref how) => {
                                eprintln!("{}: {how}", scenario.name);
                                None
                            }
                            Cleanup::Deleted | Cleanup::Nothing => None,
                        }) {
                            if let Some(old) = run.keep(kept) {
                                eprintln!("k8s-labs: {}", run.delete_kept(old).await);
                            }
                        }
                    }
                    // Still registered: the run tries again when it ends.
                    Err(e) => panic!(
                        "cannot clean up after the scenario: {e}\nthe run tries again when it ends"
                    ),
                }
            }
            .boxed_local()
            })
            .with_cli(opts)
            .run(root.join("features"));

    let out = cucumber.await;
    let failed = cucumber::writer::Stats::<LabWorld>::execution_has_failed(&out);
    // The course's cluster the last scenarios shared goes with the run.
    if let Some(kept) = run.take_kept() {
        eprintln!("k8s-labs: {}", run.delete_kept(kept).await);
    }
    let written = run.write_reports()?;
    if let Some(html) = written.iter().find(|p| p.ends_with(report::REPORT_HTML)) {
        eprintln!("k8s-labs: report: {}", html.display());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
