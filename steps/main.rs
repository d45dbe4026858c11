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

use anyhow::Context as _;
use cucumber::event::ScenarioFinished;
use cucumber::writer::Coloring;
use cucumber::{World as _, WriterExt as _, cli, writer};
use futures::FutureExt as _;
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
}

/// The CLI of the writer chain below (terminal output teed with cucumber JSON and the reports'
/// collector).
type LabsWriterCli = cli::Compose<cli::Compose<writer::basic::Cli, cli::Empty>, cli::Empty>;

static RUN: OnceLock<Run> = OnceLock::new();

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
    let code = runtime
        .block_on(labs(opts, root, &reports_dir))
        .unwrap_or_else(|e| {
            eprintln!("k8s-labs: {e:#}");
            ExitCode::FAILURE
        });
    // Every run ends by naming its reports folder.
    println!("reports: {}", reports_dir.display());
    code
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
    let cucumber = LabWorld::cucumber::<PathBuf>()
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
                    Err(e) => panic!(
                        "cannot delete minikube profile {} after the scenario: {e}\ndelete it by hand: {} delete -p {}",
                        lab.profile(),
                        lab.minikube().binary().display(),
                        lab.profile()
                    ),
                }
            }
            .boxed_local()
        })
        .with_cli(opts)
        .run(root.join("features"));

    tokio::select! {
        out = cucumber => {
            let failed = cucumber::writer::Stats::<LabWorld>::execution_has_failed(&out);
            // The course's cluster the last scenarios shared goes with the run.
            if let Some(kept) = run.take_kept() {
                eprintln!("k8s-labs: {}", run.delete_kept(kept).await);
            }
            let written = run.write_reports()?;
            if let Some(html) = written.iter().find(|p| p.ends_with(report::REPORT_HTML)) {
                eprintln!("k8s-labs: report: {}", html.display());
            }
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        signal = interrupted() => {
            // Leaving the select dropped the run: every process it had started was killed with
            // its process group. The profiles it created are still there.
            eprintln!("k8s-labs: {signal}: stopped the run; cleaning up its minikube profiles");
            for line in run.clean_up_live_profiles().await? {
                eprintln!("k8s-labs: {line}");
            }
            // Its host files (the kept cluster's kubeconfigs) go with it.
            drop(run.take_kept());
            Ok(ExitCode::from(130))
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without signal handlers the run cannot be interrupted cleanly: never resolve.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "interrupted (SIGINT)",
        _ = term.recv() => "terminated (SIGTERM)",
    }
}
