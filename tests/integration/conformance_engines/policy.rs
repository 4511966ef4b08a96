//! Generated policies over the engines' paths: rules rooted at each endpoint family (KV v1
//! keys, KV v2 data/metadata/delete/undelete/destroy, transit encrypt/decrypt/keys, PKI
//! issue/sign/roles) or whole mounts, exact or with `*` and `+`, capabilities drawn with
//! create-only and update-only grants often, and now and then parameter constraints.

use crate::support::differential::{Rng, Rule};

use super::world::{KV_KEYS, PKI_ROLES, TRANSIT_KEYS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Kv,
    Transit,
    Pki,
}

const PREFIXES: &[((&str, Family), usize)] = &[
    (("kv/", Family::Kv), 7),
    (("secret/data/", Family::Kv), 7),
    (("secret/metadata/", Family::Kv), 4),
    (("secret/delete/", Family::Kv), 2),
    (("secret/undelete/", Family::Kv), 2),
    (("secret/destroy/", Family::Kv), 2),
    (("secret/+/", Family::Kv), 2),
    (("secret/subkeys/", Family::Kv), 1),
    (("transit/encrypt/", Family::Transit), 4),
    (("transit/decrypt/", Family::Transit), 2),
    (("transit/rewrap/", Family::Transit), 1),
    (("transit/keys/", Family::Transit), 3),
    (("transit/hmac/", Family::Transit), 1),
    (("transit/+/", Family::Transit), 2),
    (("pki/issue/", Family::Pki), 3),
    (("pki/sign/", Family::Pki), 2),
    (("pki/roles/", Family::Pki), 3),
    (("pki/+/", Family::Pki), 2),
];

/// Whole mounts, list endpoints, sudo paths and other odd shapes.
const WHOLE: &[&str] = &[
    "kv/*",
    "kv",
    "kv/team",
    "secret/*",
    "secret/+/team/*",
    "secret/metadata",
    "secret/metadata/team",
    "secret/metadata/team/",
    "transit/*",
    "transit/keys",
    "transit/keys/+/rotate",
    "transit/keys/k1/*",
    "pki/*",
    "pki/roles",
    "pki/certs",
    "pki/root",
    "pki/root/*",
    "pki/root/sign-self-issued",
    "pki/cert/*",
];

/// Capability groups a rule draws from; create and update come alone as often as together.
const GROUPS: &[&[&str]] = &[
    &["read"],
    &["list"],
    &["read", "list"],
    &["create", "update"],
    &["create"],
    &["create"],
    &["update"],
    &["update"],
    &["delete"],
    &["patch"],
    &["sudo"],
    &["update", "sudo"],
    &["delete", "sudo"],
];

/// Parameter names the requests use, per family, with values a constraint may list (HCL
/// literals of one type per name; none: only "any value").
const PARAMETERS: &[(Family, &str, &[&str])] = &[
    (Family::Kv, "k", &[r#""v""#]),
    (Family::Kv, "owner", &[r#""ops""#, r#""dev*""#, r#""*ops""#]),
    (Family::Kv, "data", &[]),
    (Family::Kv, "options", &[]),
    (Family::Kv, "version", &[r#""1""#, r#""2""#]),
    (Family::Kv, "versions", &["[1]", "[2]"]),
    (Family::Kv, "max_versions", &["5", "3"]),
    (Family::Kv, "custom_metadata", &[]),
    (Family::Transit, "plaintext", &[]),
    (Family::Transit, "ciphertext", &[]),
    (Family::Transit, "context", &[]),
    (
        Family::Transit,
        "type",
        &[r#""aes256-gcm96""#, r#""chacha*""#],
    ),
    (Family::Transit, "input", &[]),
    (
        Family::Pki,
        "common_name",
        &[r#""*.example.com""#, r#""svc.example.com""#, r#""admin*""#],
    ),
    (Family::Pki, "ttl", &[r#""5m""#, r#""1h""#]),
    (Family::Pki, "csr", &[]),
    (Family::Pki, "max_ttl", &[r#""1h""#, r#""2h""#]),
    (Family::Pki, "key_type", &[r#""ec""#]),
];

fn tail(rng: &mut Rng, family: Family) -> String {
    let names: &[&str] = match family {
        Family::Kv => KV_KEYS,
        Family::Transit => TRANSIT_KEYS,
        Family::Pki => PKI_ROLES,
    };
    let name = *rng.pick(names);
    match rng.below(10) {
        0..=3 => name.to_owned(),
        4 => "*".to_owned(),
        5 => "+".to_owned(),
        // A glob inside the name: `a*` covers `a` and `ab`, `team/a*` the same one deeper.
        6 | 7 => {
            let keep = 1 + rng.below(name.len());
            format!("{}*", &name[..keep])
        }
        _ => match family {
            Family::Kv => (*rng.pick(&["team/*", "team/+", "+/a", "+/ab*"])).to_owned(),
            Family::Transit => format!("{name}/*"),
            Family::Pki => format!("{}*", &name[..1]),
        },
    }
}

fn capabilities(rng: &mut Rng) -> Vec<&'static str> {
    if rng.chance(10) {
        return vec!["deny"];
    }
    let mut caps: Vec<&'static str> = Vec::new();
    for _ in 0..rng.weighted(&[(1, 6), (2, 4), (3, 1)]) {
        for cap in *rng.pick(GROUPS) {
            if !caps.contains(cap) {
                caps.push(*cap);
            }
        }
    }
    caps
}

/// One constraint (`kind` 0–1 allowed, 2–3 denied, 4 required) over the family's
/// parameter names.
fn constraint(rng: &mut Rng, family: Family, kind: usize) -> String {
    let names: Vec<&(Family, &str, &[&str])> =
        PARAMETERS.iter().filter(|(f, _, _)| *f == family).collect();
    // A name at most once per map: vaultgate refuses a repeated one (OpenBao joins them).
    let mut used: Vec<&str> = Vec::new();
    let mut entry = |rng: &mut Rng| {
        let (_, name, values) = **rng.pick(&names);
        let listed: Vec<&str> = values.iter().copied().filter(|_| rng.chance(50)).collect();
        if used.contains(&name) {
            return None;
        }
        used.push(name);
        Some(format!("    \"{name}\" = [{}]", listed.join(", ")))
    };
    match kind {
        0 | 1 => {
            let mut lines: Vec<String> = (0..1 + rng.below(3)).filter_map(|_| entry(rng)).collect();
            if rng.chance(20) {
                lines.push("    \"*\" = []".to_owned());
            }
            format!("allowed_parameters = {{\n{}\n  }}", lines.join("\n"))
        }
        2 | 3 => {
            let lines: Vec<String> = (0..1 + rng.below(2)).filter_map(|_| entry(rng)).collect();
            format!("denied_parameters = {{\n{}\n  }}", lines.join("\n"))
        }
        _ => format!("required_parameters = [\"{}\"]", rng.pick(&names).1),
    }
}

pub fn policy(rng: &mut Rng) -> Vec<Rule> {
    let count = 18 + rng.below(18);
    let mut rules: Vec<Rule> = Vec::with_capacity(count);
    while rules.len() < count {
        let (pattern, family) = if rng.chance(15) {
            let pattern = *rng.pick(WHOLE);
            let family = match pattern.split('/').next() {
                Some("transit") => Family::Transit,
                Some("pki") => Family::Pki,
                _ => Family::Kv,
            };
            (pattern.to_owned(), family)
        } else if !rules.is_empty() && rng.chance(8) {
            // The same path string again: capabilities OR-ed, a deny wins alone.
            let again = rng.pick(&rules).pattern.clone();
            (again, Family::Kv)
        } else {
            let (prefix, family) = rng.weighted(PREFIXES);
            (format!("{prefix}{}", tail(rng, family)), family)
        };
        let mut rule = Rule::new(pattern, capabilities(rng));
        if !rule.caps.contains(&"deny") && rng.chance(20) {
            let kind = rng.below(5);
            rule.extra.push(constraint(rng, family, kind));
            // Now and then one of another kind (the same attribute twice in a block is a
            // syntax error to vaultgate's HCL reader, and OpenBao merges them).
            let other = rng.below(5);
            if rng.chance(25) && other / 2 != kind / 2 {
                rule.extra.push(constraint(rng, family, other));
            }
        }
        rules.push(rule);
    }
    rules
}
