//! Phrases and parameter types shared by every step module.

use std::str::FromStr;
use std::sync::LazyLock;

use cucumber::Parameter;
use regex::Regex;

/// A list of quoted names as features write them: `"a"`, `"a" and "b"`, `"a", "b" and "c"`.
/// `<profile>` inside a name stands for the scenario's profile.
#[derive(Debug, Clone, PartialEq, Eq, Parameter)]
#[param(name = "names", regex = r#""[^"]*"(?:(?:, | and )"[^"]*")*"#)]
pub struct Names(pub Vec<String>);

static QUOTED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#""([^"]*)""#).expect("valid regex"));

impl FromStr for Names {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let names: Vec<String> = QUOTED.captures_iter(s).map(|c| c[1].to_string()).collect();
        if names.is_empty() {
            Err(format!("no quoted names in {s:?}"))
        } else {
            Ok(Self(names))
        }
    }
}
