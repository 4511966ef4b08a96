//! What the generated differential tests (`conformance_gen`, `conformance_ns`,
//! `conformance_engines`) share: a seeded generator, the seed list (a fixed seed, then seeds
//! from the clock or from an environment variable for replay), generated policy rules and
//! their HCL, and one plain request sender.

/// splitmix64: small, fast, and good enough to spread choices; no crate needed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap()).unwrap()
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Picks from (item, weight) pairs.
    pub fn weighted<T: Copy>(&mut self, items: &[(T, usize)]) -> T {
        let total: usize = items.iter().map(|(_, w)| w).sum();
        let mut at = self.below(total);
        for (item, weight) in items {
            if at < *weight {
                return *item;
            }
            at -= weight;
        }
        unreachable!("weights sum to total")
    }
}

/// `fixed`, then the seeds listed in `var` (comma-separated, to replay a run) or, without
/// it, `clock` seeds taken from the clock.
pub fn seeds(fixed: u64, var: &str, clock: usize) -> Vec<u64> {
    let mut seeds = vec![fixed];
    match std::env::var(var) {
        Ok(list) => seeds.extend(list.split(',').map(|s| {
            s.trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("{var} {s:?}: {e}"))
        })),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            // Truncation is fine: only the low bits vary between runs anyway.
            let mut rng = Rng(nanos as u64);
            seeds.extend((0..clock).map(|_| rng.next()));
        }
    }
    seeds
}

/// A policy that lets its token do anything, sudo included: the token vaultgate holds in
/// the differential tests, so that every refusal seen through it is vaultgate's own.
pub const EVERYTHING: &str = r#"path "*" { capabilities = ["create", "read", "update", "patch", "delete", "list", "sudo"] }"#;

/// One stanza of a generated policy.
#[derive(Debug, Clone)]
pub struct Rule {
    pub pattern: String,
    pub caps: Vec<&'static str>,
    /// Further lines of the stanza, as HCL (parameter constraints).
    pub extra: Vec<String>,
}

impl Rule {
    pub fn new(pattern: impl Into<String>, caps: Vec<&'static str>) -> Rule {
        Rule {
            pattern: pattern.into(),
            caps,
            extra: Vec::new(),
        }
    }
}

/// The policy text, one stanza per rule in order; vaultgate and OpenBao both read it.
pub fn hcl(rules: &[Rule]) -> String {
    rules
        .iter()
        .map(|rule| {
            let caps: Vec<String> = rule.caps.iter().map(|c| format!("{c:?}")).collect();
            let mut stanza = format!(
                "path \"{}\" {{\n  capabilities = [{}]\n",
                rule.pattern,
                caps.join(", ")
            );
            for line in &rule.extra {
                stanza.push_str(&format!("  {line}\n"));
            }
            stanza.push_str("}\n");
            stanza
        })
        .collect()
}

/// Vault's pattern match of one rule on a path: `+` one segment, a trailing `*` a prefix
/// (for aiming requests and independent checks; the priority among rules is not modelled).
pub fn matches(pattern: &str, path: &str) -> bool {
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(b) => (b, true),
        None => (pattern, false),
    };
    let pats: Vec<&str> = body.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    if !glob && pats.len() != segs.len() || glob && segs.len() < pats.len() {
        return false;
    }
    pats.iter().enumerate().all(|(i, p)| {
        let last = i + 1 == pats.len();
        match (*p, last && glob) {
            ("+", _) => true,
            (p, true) => segs[i..].join("/").starts_with(p),
            (p, false) => segs[i] == p,
        }
    })
}

/// An answer: status and body text.
pub struct Sent {
    pub status: u16,
    pub text: String,
}

impl Sent {
    /// vaultgate answered itself (a refusal) rather than relaying Vault's answer.
    pub fn by_vaultgate(&self) -> bool {
        self.text.contains("vaultgate")
    }

    /// OpenBao's ACL refused it.
    pub fn acl_denied(&self) -> bool {
        self.status == 403 && self.text.contains("permission denied")
    }
}

/// One request to `base` (`/v1/` + `path`, which may carry a query): with a namespace header,
/// a token and a JSON body when given (merge-patch JSON for PATCH, as Vault requires).
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    method: &str,
    header: Option<&str>,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Sent {
    let mut req = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{base}/v1/{path}"),
    );
    if let Some(ns) = header {
        req = req.header("X-Vault-Namespace", ns);
    }
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    if let Some(b) = body {
        let content_type = if method == "PATCH" {
            "application/merge-patch+json"
        } else {
            "application/json"
        };
        req = req.header("content-type", content_type).body(b.to_owned());
    }
    let resp = req.send().await.unwrap();
    Sent {
        status: resp.status().as_u16(),
        text: resp.text().await.unwrap_or_default(),
    }
}
