//! The course's claims and the harness's measurements.
//!
//! A [`Claim`] is something the course's text promises ("the node becomes NotReady in less than
//! 10 seconds"): its id, the course's words, what is [`Expected`] (a duration with a bound and a
//! tolerance, a yes/no, or one of a few outcomes), where that expectation comes from ([`Source`]:
//! the course, a value configured in the cluster, or an upstream default), and what the run
//! [`Measured`]. Its [`Verdict`] is `holds`, `drifted` or `not measured`. Claims are recorded,
//! not failing, unless the run is given `--strict-claims` (then a drifted claim fails its step).
//!
//! A [`Measurement`] is one timing the harness took ("worker stopped → node NotReady"), with the
//! expectation it was judged by; every measurement is kept on the scenario for the reports.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::timeline::TimeBasis;

/// Errors building claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The measured value is of another kind than the expectation.
    #[error(
        "claim {id}: a {measured} measurement cannot be judged against a {expected} expectation: measure a {expected} value"
    )]
    KindMismatch {
        /// The claim.
        id: String,
        /// The expectation's kind.
        expected: &'static str,
        /// The measurement's kind.
        measured: &'static str,
    },
}

/// Where an expectation comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The course's text says so.
    Course,
    /// A value configured in the cluster (`--node-monitor-grace-period=40s` in the kubeadm
    /// config, or its default when not set).
    Configured {
        /// The setting, as `flag=value`.
        setting: String,
    },
    /// Kubernetes' documented behaviour.
    Upstream {
        /// Where it is documented (file in kubernetes/kubernetes, KEP, docs page).
        reference: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Course => f.write_str("the course"),
            Self::Configured { setting } => write!(f, "configured {setting}"),
            Self::Upstream { reference } => write!(f, "upstream: {reference}"),
        }
    }
}

/// How a duration is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// No more than the value (plus tolerance): "in less than 10 seconds".
    AtMost,
    /// No less than the value (minus tolerance): "not before the grace period".
    AtLeast,
    /// The value, give or take the tolerance: "about 5 minutes".
    About,
}

/// Durations in reports are seconds with millisecond precision.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((d.as_millis() as f64) / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use std::time::Duration;

        use serde::{Deserialize, Deserializer, Serializer};

        #[allow(clippy::ref_option)]
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<f64>::deserialize(d)?
                .map(|v| Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// A bounded duration, with its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationExpectation {
    /// How it is bounded.
    pub bound: Bound,
    /// The value.
    #[serde(with = "secs", rename = "value_s")]
    pub value: Duration,
    /// The slack allowed.
    #[serde(with = "secs", rename = "tolerance_s")]
    pub tolerance: Duration,
    /// Where it comes from.
    pub source: Source,
}

impl DurationExpectation {
    /// At most `value` (+ `tolerance`).
    #[must_use]
    pub fn at_most(value: Duration, tolerance: Duration, source: Source) -> Self {
        Self {
            bound: Bound::AtMost,
            value,
            tolerance,
            source,
        }
    }

    /// At least `value` (− `tolerance`).
    #[must_use]
    pub fn at_least(value: Duration, tolerance: Duration, source: Source) -> Self {
        Self {
            bound: Bound::AtLeast,
            value,
            tolerance,
            source,
        }
    }

    /// About `value`, ± `tolerance`.
    #[must_use]
    pub fn about(value: Duration, tolerance: Duration, source: Source) -> Self {
        Self {
            bound: Bound::About,
            value,
            tolerance,
            source,
        }
    }

    /// The earliest acceptable value, if bounded below.
    #[must_use]
    pub fn earliest(&self) -> Option<Duration> {
        match self.bound {
            Bound::AtMost => None,
            Bound::AtLeast | Bound::About => Some(self.value.saturating_sub(self.tolerance)),
        }
    }

    /// The latest acceptable value, if bounded above.
    #[must_use]
    pub fn latest(&self) -> Option<Duration> {
        match self.bound {
            Bound::AtLeast => None,
            Bound::AtMost | Bound::About => Some(self.value + self.tolerance),
        }
    }

    /// Whether `measured` meets it.
    #[must_use]
    pub fn holds_for(&self, measured: Duration) -> bool {
        self.earliest().is_none_or(|e| measured >= e) && self.latest().is_none_or(|l| measured <= l)
    }
}

impl fmt::Display for DurationExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tol = if self.tolerance.is_zero() {
            String::new()
        } else {
            format!(" ± {}", human(self.tolerance))
        };
        match self.bound {
            Bound::AtMost => write!(f, "≤ {}{tol}", human(self.value)),
            Bound::AtLeast => write!(f, "≥ {}{tol}", human(self.value)),
            Bound::About => write!(f, "≈ {}{tol}", human(self.value)),
        }
    }
}

/// What a claim expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expected {
    /// A duration.
    Duration(DurationExpectation),
    /// A yes/no fact ("Kubernetes does not rebalance": true).
    Bool {
        /// The expected answer.
        value: bool,
        /// What `true` means, in words ("no pod moved after the workers came back").
        meaning: String,
        /// Where it comes from.
        source: Source,
    },
    /// One of a few outcomes ("5/0, 4/1 or 3/2").
    OneOf {
        /// The acceptable outcomes.
        values: Vec<String>,
        /// Where they come from.
        source: Source,
    },
}

impl Expected {
    fn kind(&self) -> &'static str {
        match self {
            Self::Duration(_) => "duration",
            Self::Bool { .. } => "yes/no",
            Self::OneOf { .. } => "text",
        }
    }

    /// Where the expectation comes from.
    #[must_use]
    pub fn source(&self) -> &Source {
        match self {
            Self::Duration(d) => &d.source,
            Self::Bool { source, .. } | Self::OneOf { source, .. } => source,
        }
    }

    /// The tolerance, for durations.
    #[must_use]
    pub fn tolerance(&self) -> Option<Duration> {
        match self {
            Self::Duration(d) => Some(d.tolerance),
            _ => None,
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duration(d) => d.fmt(f),
            Self::Bool { value, meaning, .. } => {
                if *value {
                    write!(f, "yes: {meaning}")
                } else {
                    write!(f, "no: {meaning}")
                }
            }
            Self::OneOf { values, .. } => write!(f, "one of {}", values.join(", ")),
        }
    }
}

/// What the run measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Measured {
    /// A duration.
    Duration {
        /// The value.
        #[serde(with = "secs", rename = "value_s")]
        value: Duration,
    },
    /// A yes/no fact.
    Bool {
        /// The value.
        value: bool,
    },
    /// An outcome.
    Text {
        /// The value.
        value: String,
    },
    /// Nothing could be measured.
    NotMeasured {
        /// Why.
        reason: String,
    },
}

impl Measured {
    fn kind(&self) -> &'static str {
        match self {
            Self::Duration { .. } => "duration",
            Self::Bool { .. } => "yes/no",
            Self::Text { .. } => "text",
            Self::NotMeasured { .. } => "missing",
        }
    }

    /// The duration, if it is one.
    #[must_use]
    pub fn duration(&self) -> Option<Duration> {
        match self {
            Self::Duration { value } => Some(*value),
            _ => None,
        }
    }
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Duration { value } => f.write_str(&human(*value)),
            Self::Bool { value } => f.write_str(if *value { "yes" } else { "no" }),
            Self::Text { value } => f.write_str(value),
            Self::NotMeasured { reason } => write!(f, "not measured ({reason})"),
        }
    }
}

/// A claim's (or measurement's) standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The measurement is outside the expectation.
    Drifted,
    /// Nothing was measured.
    NotMeasured,
    /// The measurement meets the expectation.
    Holds,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Holds => "holds",
            Self::Drifted => "drifted",
            Self::NotMeasured => "not measured",
        })
    }
}

/// One of the course's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// A stable id (`ch7.not-ready-latency`), the same across runs (the drift page keys on it).
    pub id: String,
    /// The course's words.
    pub text: String,
    /// What is expected.
    pub expected: Expected,
    /// What was measured.
    pub measured: Measured,
    /// Context: configured values, how it was measured.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Claim {
    /// A claim not measured yet.
    #[must_use]
    pub fn new(id: impl Into<String>, text: impl Into<String>, expected: Expected) -> Self {
        Self {
            id: id.into(),
            text: text.into(),
            expected,
            measured: Measured::NotMeasured {
                reason: "not measured yet".into(),
            },
            notes: Vec::new(),
        }
    }

    /// Sets what was measured.
    ///
    /// # Errors
    /// [`ClaimError::KindMismatch`] when it cannot be compared with the expectation.
    pub fn measured(mut self, measured: Measured) -> Result<Self, ClaimError> {
        let ok = matches!(
            (&self.expected, &measured),
            (_, Measured::NotMeasured { .. })
                | (Expected::Duration(_), Measured::Duration { .. })
                | (Expected::Bool { .. }, Measured::Bool { .. })
                | (Expected::OneOf { .. }, Measured::Text { .. })
        );
        if !ok {
            return Err(ClaimError::KindMismatch {
                id: self.id,
                expected: self.expected.kind(),
                measured: measured.kind(),
            });
        }
        self.measured = measured;
        Ok(self)
    }

    /// Adds a note.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Holds, drifted or not measured.
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        match (&self.expected, &self.measured) {
            (_, Measured::NotMeasured { .. }) => Verdict::NotMeasured,
            (Expected::Duration(d), Measured::Duration { value }) => judge(d.holds_for(*value)),
            (Expected::Bool { value, .. }, Measured::Bool { value: m }) => judge(value == m),
            (Expected::OneOf { values, .. }, Measured::Text { value }) => {
                judge(values.contains(value))
            }
            _ => Verdict::NotMeasured,
        }
    }

    /// For a drifted duration: by how much it is outside the expectation's nearest edge
    /// (positive: later than allowed).
    #[must_use]
    pub fn drift(&self) -> Option<jiff::SignedDuration> {
        let (Expected::Duration(d), Measured::Duration { value }) =
            (&self.expected, &self.measured)
        else {
            return None;
        };
        let value = jiff::SignedDuration::try_from(*value).ok()?;
        if let Some(latest) = d.latest()
            && value > jiff::SignedDuration::try_from(latest).ok()?
        {
            return Some(value - jiff::SignedDuration::try_from(latest).ok()?);
        }
        if let Some(earliest) = d.earliest()
            && value < jiff::SignedDuration::try_from(earliest).ok()?
        {
            return Some(value - jiff::SignedDuration::try_from(earliest).ok()?);
        }
        None
    }

    /// "holds", "drifted by +31 s", "not measured".
    #[must_use]
    pub fn verdict_text(&self) -> String {
        match (self.verdict(), self.drift()) {
            (Verdict::Drifted, Some(d)) => format!("drifted by {}", signed_human(d)),
            (v, _) => v.to_string(),
        }
    }
}

fn judge(ok: bool) -> Verdict {
    if ok { Verdict::Holds } else { Verdict::Drifted }
}

/// One timing the harness measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measurement {
    /// Its name (`worker stopped → NotReady`), stable across runs (the drift page keys on it).
    pub name: String,
    /// The value, or `None` when the awaited transition did not come.
    #[serde(with = "secs::option", rename = "value_s")]
    pub value: Option<Duration>,
    /// The mark it is measured from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_mark: Option<String>,
    /// The transition it is measured to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Which clock.
    #[serde(default)]
    pub basis: TimeBasis,
    /// The expectation it was judged by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<DurationExpectation>,
    /// Context (e.g. how long it waited when nothing came).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Measurement {
    /// A measured value without an expectation.
    #[must_use]
    pub fn new(name: impl Into<String>, value: Duration) -> Self {
        Self {
            name: name.into(),
            value: Some(value),
            from_mark: None,
            to: None,
            basis: TimeBasis::Observed,
            expected: None,
            note: None,
        }
    }

    /// Holds, drifted, or not measured (no value, or no expectation to judge by: holds).
    #[must_use]
    pub fn verdict(&self) -> Verdict {
        match (&self.value, &self.expected) {
            (None, _) => Verdict::NotMeasured,
            (Some(_), None) => Verdict::Holds,
            (Some(v), Some(e)) => judge(e.holds_for(*v)),
        }
    }
}

/// A duration for people: `850 ms`, `41.2 s`, `5 min 18 s`, `1 h 2 min`.
#[must_use]
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        let s = d.as_secs_f64();
        if (s - s.round()).abs() < 0.05 {
            format!("{} s", s.round())
        } else {
            format!("{s:.1} s")
        }
    } else if ms < 3_600_000 {
        let s = d.as_secs();
        if s.is_multiple_of(60) {
            format!("{} min", s / 60)
        } else {
            format!("{} min {} s", s / 60, s % 60)
        }
    } else {
        let m = d.as_secs() / 60;
        format!("{} h {} min", m / 60, m % 60)
    }
}

/// A signed duration for people: `+31 s`, `-4.5 s`.
#[must_use]
pub fn signed_human(d: jiff::SignedDuration) -> String {
    let sign = if d.is_negative() { "-" } else { "+" };
    let abs = Duration::try_from(d.abs()).unwrap_or_default();
    format!("{sign}{}", human(abs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// "the node becomes NotReady almost immediately, in less than 10 seconds": a duration with an
    /// upper bound from the course. Kubernetes 1.32+ takes the 50 s grace period.
    #[test]
    fn an_upper_bound_from_the_course_drifts_when_later() {
        let claim = Claim::new(
            "ch7.not-ready-latency",
            "the node is marked NotReady almost immediately (in less than 10 seconds)",
            Expected::Duration(DurationExpectation::at_most(
                secs(10),
                Duration::ZERO,
                Source::Course,
            )),
        )
        .measured(Measured::Duration {
            value: Duration::from_millis(51_300),
        })
        .unwrap()
        .note("configured node-monitor-grace-period=50s (default since 1.32)");
        assert_eq!(claim.verdict(), Verdict::Drifted);
        assert_eq!(claim.verdict_text(), "drifted by +41.3 s");
        assert_eq!(claim.expected.to_string(), "≤ 10 s");
        assert_eq!(claim.measured.to_string(), "51.3 s");
    }

    /// "about 5 minutes": a duration within a tolerance on both sides.
    #[test]
    fn about_holds_within_the_tolerance_on_either_side() {
        let claim = |value| {
            Claim::new(
                "ch7.eviction-latency",
                "the pod is evicted after about 5 minutes",
                Expected::Duration(DurationExpectation::about(
                    secs(300),
                    secs(60),
                    Source::Course,
                )),
            )
            .measured(Measured::Duration { value })
            .unwrap()
        };
        assert_eq!(claim(secs(341)).verdict(), Verdict::Holds);
        assert_eq!(claim(secs(245)).verdict(), Verdict::Holds);
        let early = claim(secs(30));
        assert_eq!(early.verdict_text(), "drifted by -3 min 30 s");
        assert_eq!(early.expected.to_string(), "≈ 5 min ± 1 min");
    }

    /// A configured value as the expectation (the eviction toleration), bounded below.
    #[test]
    fn a_lower_bound_from_a_configured_value() {
        let expected = DurationExpectation::at_least(
            secs(300),
            secs(5),
            Source::Configured {
                setting: "default-unreachable-toleration-seconds=300".into(),
            },
        );
        assert!(expected.holds_for(secs(330)));
        assert!(!expected.holds_for(secs(200)));
        assert_eq!(expected.latest(), None);
        assert_eq!(expected.earliest(), Some(secs(295)));
        assert_eq!(
            expected.source.to_string(),
            "configured default-unreachable-toleration-seconds=300"
        );
    }

    /// "`--pod-eviction-timeout` sets the delay": a yes/no claim. kube-controller-manager 1.27+
    /// refuses the flag (K8S-FACTS.md), so it is measured false there.
    #[test]
    fn a_yes_no_claim() {
        let claim = Claim::new(
            "ch7.pod-eviction-timeout",
            "the --pod-eviction-timeout flag of the controller manager sets the eviction delay",
            Expected::Bool {
                value: true,
                meaning:
                    "kube-controller-manager accepts --pod-eviction-timeout and it sets the delay"
                        .into(),
                source: Source::Course,
            },
        );
        let drifted = claim
            .clone()
            .measured(Measured::Bool { value: false })
            .unwrap();
        assert_eq!(drifted.verdict(), Verdict::Drifted);
        assert_eq!(drifted.verdict_text(), "drifted");
        assert_eq!(
            claim
                .measured(Measured::Bool { value: true })
                .unwrap()
                .verdict(),
            Verdict::Holds
        );
    }

    /// "Kubernetes does not rebalance": the distribution after the workers return is one of the
    /// listed outcomes, and nothing moves afterwards.
    #[test]
    fn one_of_several_outcomes() {
        let claim = Claim::new(
            "ch7.distribution",
            "the pods end up 5/0, 4/1 or 3/2 on the two workers",
            Expected::OneOf {
                values: vec!["5/0".into(), "4/1".into(), "3/2".into()],
                source: Source::Course,
            },
        );
        assert_eq!(
            claim
                .clone()
                .measured(Measured::Text {
                    value: "4/1".into()
                })
                .unwrap()
                .verdict(),
            Verdict::Holds
        );
        assert_eq!(
            claim
                .measured(Measured::Text {
                    value: "2/2".into()
                })
                .unwrap()
                .verdict(),
            Verdict::Drifted
        );
    }

    /// "the kubelet sends a heartbeat every 10 s": not measured when no lease was seen.
    #[test]
    fn a_claim_that_could_not_be_measured() {
        let claim = Claim::new(
            "ch7.heartbeat",
            "the kubelet sends a heartbeat every 10 seconds",
            Expected::Duration(DurationExpectation::about(
                secs(10),
                secs(2),
                Source::Upstream {
                    reference: "kubelet nodeLeaseDurationSeconds/4 (pkg/kubelet/nodelease)".into(),
                },
            )),
        )
        .measured(Measured::NotMeasured {
            reason: "no node lease renewal was observed".into(),
        })
        .unwrap();
        assert_eq!(claim.verdict(), Verdict::NotMeasured);
        assert_eq!(
            claim.measured.to_string(),
            "not measured (no node lease renewal was observed)"
        );
    }

    #[test]
    fn kinds_must_match() {
        let err = Claim::new(
            "x",
            "t",
            Expected::Bool {
                value: true,
                meaning: "m".into(),
                source: Source::Course,
            },
        )
        .measured(Measured::Duration { value: secs(1) })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "claim x: a duration measurement cannot be judged against a yes/no expectation: measure a yes/no value"
        );
    }

    #[test]
    fn claims_and_measurements_round_trip_through_json() {
        let claim = Claim::new(
            "ch7.eviction-latency",
            "about 5 minutes",
            Expected::Duration(DurationExpectation::about(
                secs(300),
                secs(60),
                Source::Course,
            )),
        )
        .measured(Measured::Duration {
            value: Duration::from_millis(318_250),
        })
        .unwrap();
        let json = serde_json::to_value(&claim).unwrap();
        assert_eq!(
            json["measured"],
            serde_json::json!({"kind": "duration", "value_s": 318.25})
        );
        assert_eq!(json["expected"]["bound"], "about");
        assert_eq!(serde_json::from_value::<Claim>(json).unwrap(), claim);
        let m = Measurement {
            expected: Some(DurationExpectation::at_most(
                secs(50),
                secs(15),
                Source::Course,
            )),
            ..Measurement::new("a → b", secs(70))
        };
        assert_eq!(m.verdict(), Verdict::Drifted);
        let back: Measurement = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        let missing = Measurement { value: None, ..m };
        assert_eq!(missing.verdict(), Verdict::NotMeasured);
        assert!(
            serde_json::to_string(&missing)
                .unwrap()
                .contains("\"value_s\":null")
        );
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(41_230)), "41.2 s");
        assert_eq!(human(secs(10)), "10 s");
        assert_eq!(human(secs(318)), "5 min 18 s");
        assert_eq!(human(secs(300)), "5 min");
        assert_eq!(human(secs(3720)), "1 h 2 min");
    }
}
