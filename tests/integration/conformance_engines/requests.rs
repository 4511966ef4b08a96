//! Generated requests over the same alphabet as the policies, with the bodies clients send:
//! KV v2 data writes with and without `options.cas`, version deletes, undeletes and
//! destroys, metadata; KV v1 writes (with an `owner` sometimes); transit encrypt, decrypt,
//! rewrap, key creation and rotation; PKI issue, sign, roles, the CA and the sudo paths.

use serde_json::{json, Value};

use crate::support::differential::{matches, Rng, Rule};

use super::world::{Fixtures, Subject, KV_KEYS, PKI_ROLES, ROLE_BODY, TRANSIT_KEYS};

pub struct Request {
    /// What kind of endpoint it is, e.g. `kv2 data write`; deliberate differences name these.
    pub endpoint: &'static str,
    pub method: &'static str,
    /// After `/v1/`, with any query.
    pub path: String,
    pub body: Option<String>,
    pub subject: Subject,
}

impl Request {
    /// The path OpenBao's ACL is asked about (no query; a list with its `/`).
    pub fn acl_path(&self) -> String {
        let path = self.path.split('?').next().unwrap_or_default();
        if self.method == "LIST" || self.path.ends_with("?list=true") {
            format!("{}/", path.trim_end_matches('/'))
        } else {
            path.to_owned()
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(self.method, "POST" | "PUT")
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} /v1/{}", self.method, self.path)?;
        match &self.body {
            // The fixtures (ciphertext, CSR, certificate) are long and differ per server.
            Some(body) if body.len() > 120 => {
                write!(f, " {}…", body.chars().take(60).collect::<String>())
            }
            Some(body) => write!(f, " {body}"),
            None => Ok(()),
        }
    }
}

const ENDPOINTS: &[(&str, usize)] = &[
    ("kv1 read", 4),
    ("kv1 list", 2),
    ("kv1 write", 8),
    ("kv1 delete", 3),
    ("kv1 patch", 1),
    ("kv2 data read", 4),
    ("kv2 data write", 12),
    ("kv2 data patch", 2),
    ("kv2 data delete", 2),
    ("kv2 delete", 3),
    ("kv2 undelete", 3),
    ("kv2 destroy", 3),
    ("kv2 metadata read", 2),
    ("kv2 metadata list", 2),
    ("kv2 metadata write", 4),
    ("kv2 metadata patch", 1),
    ("kv2 metadata delete", 2),
    ("kv2 subkeys read", 1),
    ("transit encrypt", 7),
    ("transit decrypt", 3),
    ("transit rewrap", 1),
    ("transit key write", 3),
    ("transit key read", 2),
    ("transit keys list", 1),
    ("transit key rotate", 2),
    ("transit hmac", 1),
    ("transit key delete", 1),
    ("pki issue", 4),
    ("pki sign", 2),
    ("pki role write", 3),
    ("pki role read", 2),
    ("pki roles list", 1),
    ("pki role patch", 1),
    ("pki role delete", 1),
    ("pki ca read", 2),
    ("pki certs list", 1),
    ("pki sign-self-issued", 1),
    ("pki root delete", 1),
];

const COMMON_NAMES: &[&str] = &["svc.example.com", "admin.example.com", "x.other.test"];

fn text(v: &Value) -> Option<String> {
    Some(v.to_string())
}

/// A list: the LIST method, or GET with `?list=true`.
fn list(rng: &mut Rng, path: String) -> (&'static str, String) {
    if rng.chance(20) {
        ("GET", format!("{path}?list=true"))
    } else {
        ("LIST", path)
    }
}

fn kv1_body(rng: &mut Rng) -> Value {
    let mut body = json!({"k": "v"});
    if rng.chance(40) {
        let name = if rng.chance(15) { "OWNER" } else { "owner" };
        body[name] = json!(rng.pick(&["ops", "dev1", "xops"]));
    }
    body
}

fn kv2_data_body(rng: &mut Rng) -> Value {
    let mut body = json!({"data": {"k": "v"}});
    if let Some(cas) = rng.weighted(&[(None, 5), (Some(0), 2), (Some(1), 2), (Some(2), 1)]) {
        body["options"] = json!({ "cas": cas });
    }
    body
}

/// Half the requests are aimed at the policy: drawn again (a few times at most) until some
/// rule that is not a deny matches the path and grants what the method asks for, so that a
/// fair share of cases is allowed and the rest are near misses.
pub fn aimed(rng: &mut Rng, fixtures: &Fixtures, rules: &[Rule]) -> Request {
    let aim = rng.chance(50);
    let mut request = request(rng, fixtures);
    for _ in 0..12 {
        if !aim || reaches(rules, &request) {
            break;
        }
        request = self::request(rng, fixtures);
    }
    request
}

fn reaches(rules: &[Rule], request: &Request) -> bool {
    let wanted: &[&str] = match request.method {
        "GET" if request.path.ends_with("?list=true") => &["list"],
        "GET" => &["read"],
        "LIST" => &["list"],
        "PATCH" => &["patch"],
        "DELETE" => &["delete"],
        _ => &["create", "update"],
    };
    let path = request.acl_path();
    rules.iter().any(|rule| {
        rule.caps.iter().any(|c| wanted.contains(c))
            && (matches(&rule.pattern, &path) || matches(&rule.pattern, path.trim_end_matches('/')))
    })
}

fn request(rng: &mut Rng, fixtures: &Fixtures) -> Request {
    let endpoint = rng.weighted(ENDPOINTS);
    let key = *rng.pick(KV_KEYS);
    let dir = *rng.pick(&["", "/team"]);
    let transit = *rng.pick(TRANSIT_KEYS);
    let role = *rng.pick(PKI_ROLES);
    let write = *rng.pick(&["POST", "POST", "PUT"]);
    let versions = json!({"versions": rng.pick(&[json!([1]), json!([2]), json!([1, 2])])});
    let (kv1, kv2) = (Subject::Kv1(key.into()), Subject::Kv2(key.into()));
    let tk = Subject::TransitKey(transit.into());
    let (method, path, body, subject) = match endpoint {
        "kv1 read" => ("GET", format!("kv/{key}"), None, Subject::None),
        "kv1 list" => {
            let (method, path) = list(rng, format!("kv{dir}"));
            (method, path, None, Subject::None)
        }
        "kv1 write" => (write, format!("kv/{key}"), text(&kv1_body(rng)), kv1),
        "kv1 delete" => ("DELETE", format!("kv/{key}"), None, kv1),
        "kv1 patch" => ("PATCH", format!("kv/{key}"), text(&kv1_body(rng)), kv1),
        "kv2 data read" => {
            let query = if rng.chance(25) { "?version=1" } else { "" };
            (
                "GET",
                format!("secret/data/{key}{query}"),
                None,
                Subject::None,
            )
        }
        "kv2 data write" => (
            write,
            format!("secret/data/{key}"),
            text(&kv2_data_body(rng)),
            kv2,
        ),
        "kv2 data patch" => {
            let body = text(&json!({"data": {"k": "p"}}));
            ("PATCH", format!("secret/data/{key}"), body, kv2)
        }
        "kv2 data delete" => ("DELETE", format!("secret/data/{key}"), None, kv2),
        "kv2 delete" => ("POST", format!("secret/delete/{key}"), text(&versions), kv2),
        "kv2 undelete" => (
            "POST",
            format!("secret/undelete/{key}"),
            text(&versions),
            kv2,
        ),
        "kv2 destroy" => (write, format!("secret/destroy/{key}"), text(&versions), kv2),
        "kv2 metadata read" => ("GET", format!("secret/metadata/{key}"), None, Subject::None),
        "kv2 metadata list" => {
            let (method, path) = list(rng, format!("secret/metadata{dir}"));
            (method, path, None, Subject::None)
        }
        "kv2 metadata write" => {
            let body = rng.pick(&[
                r#"{"max_versions":5}"#,
                r#"{"max_versions":3,"custom_metadata":{"owner":"ops"}}"#,
                r#"{"custom_metadata":{"owner":"dev"}}"#,
            ]);
            let body = Some((*body).to_owned());
            (write, format!("secret/metadata/{key}"), body, kv2)
        }
        "kv2 metadata patch" => {
            let body = text(&json!({"custom_metadata": {"owner": "dev"}}));
            ("PATCH", format!("secret/metadata/{key}"), body, kv2)
        }
        "kv2 metadata delete" => ("DELETE", format!("secret/metadata/{key}"), None, kv2),
        "kv2 subkeys read" => ("GET", format!("secret/subkeys/{key}"), None, Subject::None),
        "transit encrypt" => {
            let mut body = json!({"plaintext": "aGVsbG8="});
            if rng.chance(20) {
                body["context"] = json!("Y3R4");
            }
            (
                "POST",
                format!("transit/encrypt/{transit}"),
                text(&body),
                tk,
            )
        }
        "transit decrypt" | "transit rewrap" => {
            let op = endpoint.trim_start_matches("transit ");
            let body = text(&json!({ "ciphertext": fixtures.ciphertext }));
            (
                "POST",
                format!("transit/{op}/{transit}"),
                body,
                Subject::None,
            )
        }
        "transit key write" => {
            let body = rng.pick(&[
                "{}",
                r#"{"type":"aes256-gcm96"}"#,
                r#"{"type":"chacha20-poly1305"}"#,
            ]);
            let body = Some((*body).to_owned());
            ("POST", format!("transit/keys/{transit}"), body, tk)
        }
        "transit key read" => (
            "GET",
            format!("transit/keys/{transit}"),
            None,
            Subject::None,
        ),
        "transit keys list" => {
            let (method, path) = list(rng, "transit/keys".to_owned());
            (method, path, None, Subject::None)
        }
        "transit key rotate" => ("POST", format!("transit/keys/{transit}/rotate"), None, tk),
        "transit hmac" => {
            let body = text(&json!({"input": "aGVsbG8="}));
            (
                "POST",
                format!("transit/hmac/{transit}"),
                body,
                Subject::None,
            )
        }
        "transit key delete" => ("DELETE", format!("transit/keys/{transit}"), None, tk),
        "pki issue" | "pki sign" => {
            let mut body = json!({ "common_name": rng.pick(COMMON_NAMES) });
            if rng.chance(50) {
                body["ttl"] = json!(rng.pick(&["5m", "1h"]));
            }
            let op = endpoint.trim_start_matches("pki ");
            if op == "sign" {
                body["csr"] = json!(fixtures.csr);
            }
            (
                write,
                format!("pki/{op}/{role}"),
                text(&body),
                Subject::None,
            )
        }
        "pki role write" => {
            let mut body: Value = serde_json::from_str(ROLE_BODY).unwrap();
            body["max_ttl"] = json!(rng.pick(&["1h", "2h"]));
            let subject = Subject::PkiRole(role.into());
            (write, format!("pki/roles/{role}"), text(&body), subject)
        }
        "pki role read" => ("GET", format!("pki/roles/{role}"), None, Subject::None),
        "pki roles list" => {
            let (method, path) = list(rng, "pki/roles".to_owned());
            (method, path, None, Subject::None)
        }
        "pki role patch" => {
            let body = text(&json!({"max_ttl": "2h"}));
            let subject = Subject::PkiRole(role.into());
            ("PATCH", format!("pki/roles/{role}"), body, subject)
        }
        "pki role delete" => {
            let subject = Subject::PkiRole(role.into());
            ("DELETE", format!("pki/roles/{role}"), None, subject)
        }
        "pki ca read" => {
            let path = (*rng.pick(&["pki/cert/ca", "pki/ca/pem"])).to_owned();
            ("GET", path, None, Subject::None)
        }
        "pki certs list" => {
            let (method, path) = list(rng, "pki/certs".to_owned());
            (method, path, None, Subject::None)
        }
        "pki sign-self-issued" => {
            let body = text(&json!({ "certificate": fixtures.ca_pem }));
            let path = "pki/root/sign-self-issued".to_owned();
            (write, path, body, Subject::None)
        }
        "pki root delete" => ("DELETE", "pki/root".to_owned(), None, Subject::PkiRoot),
        other => unreachable!("endpoint {other} has no request"),
    };
    Request {
        endpoint,
        method,
        path,
        body,
        subject,
    }
}
