//! Object-metadata helpers: names, uids, timestamps and durations as Kubernetes renders them.

use ring::rand::SecureRandom;
use serde_json::Value;

/// The alphabet of `utilrand.String` (apimachinery/pkg/util/rand/rand.go): no vowels, no
/// ambiguous characters, so generated names never spell words.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .expect("the system random source works");
    b
}

/// `n` random characters from Kubernetes' name alphabet.
pub fn random_suffix(n: usize) -> String {
    (0..n)
        .map(|_| {
            let b: [u8; 1] = random_bytes();
            ALPHANUMS[b[0] as usize % ALPHANUMS.len()] as char
        })
        .collect()
}

/// `generateName` + 5 random characters (apiserver/pkg/storage/names/generate.go: the prefix is cut
/// to 58 characters so the name fits 63).
pub fn generate_name(prefix: &str) -> String {
    let cut: String = prefix.chars().take(58).collect();
    format!("{cut}{}", random_suffix(5))
}

/// A random (version 4) UUID.
pub fn new_uid() -> String {
    let mut b: [u8; 16] = random_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = crate::pki::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Now as `metav1.Time` renders it: RFC 3339, seconds, UTC (`2026-11-28T05:44:16Z`).
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Now as `metav1.MicroTime`: RFC 3339 with microseconds (`2026-11-28T05:44:16.123456Z`).
pub fn now_micro() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

/// A timestamp `secs` seconds from now, in `metav1.Time` form.
pub fn rfc3339_in(secs: i64) -> String {
    let t = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or_else(|_| jiff::Timestamp::now());
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parses a `metav1.Time`/`MicroTime` string.
pub fn parse_time(v: &Value) -> Option<jiff::Timestamp> {
    v.as_str()?.parse().ok()
}

/// `duration.HumanDuration` (apimachinery/pkg/util/duration/duration.go).
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 60 * 2 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

/// `translateTimestampSince`: the age of a timestamp, `<unknown>` when unset.
pub fn age(v: &Value) -> String {
    match parse_time(v) {
        Some(t) => human_duration(jiff::Timestamp::now().duration_since(t).as_secs()),
        None => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_match_upstream_table() {
        // Cases from apimachinery/pkg/util/duration/duration_test.go.
        for (secs, want) in [
            (1, "1s"),
            (70, "70s"),
            (190, "3m10s"),
            (60 * 10, "10m"),
            (60 * 60 * 3 + 60 * 7, "3h7m"),
            (60 * 60 * 8, "8h"),
            (60 * 60 * 47, "47h"),
            (60 * 60 * 49, "2d1h"),
            (60 * 60 * 24 * 8, "8d"),
            (60 * 60 * 24 * 367, "367d"),
            (60 * 60 * 24 * 365 * 2 + 60 * 60 * 24 * 5, "2y5d"),
            (60 * 60 * 24 * 365 * 9, "9y"),
            (-5, "<invalid>"),
            (-1, "0s"),
        ] {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }

    #[test]
    fn names_and_uids() {
        let n = generate_name("web-5d8f-");
        assert_eq!(n.len(), "web-5d8f-".len() + 5);
        assert!(n[9..].bytes().all(|b| ALPHANUMS.contains(&b)));
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(new_uid(), u);
        assert!(now_rfc3339().ends_with('Z'));
    }
}
