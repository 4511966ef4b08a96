//! `AwsAuthMethod`: Vault's aws auth method (IAM login) for the tests, in front of a real
//! OpenBao. OpenBao 2.x ships no aws auth method (it is an external plugin, openbao-plugins
//! `auth/aws`, whose binary cannot be fetched or built here), so this stand-in answers
//! `POST /v1/auth/aws/login` by the plugin's own steps (`pathLoginIamGetRoleNameCallerIdAndEntity`
//! and `pathLoginUpdateIam`, IAM users bound by ARN): it checks the request's shape and the
//! signed `X-Vault-AWS-IAM-Server-ID`, replays the signed request to the STS endpoint (a real
//! moto, which verifies the signature) and binds the caller's ARN to the role; the token is a
//! real OpenBao token with the role's policies. Every other request is relayed to OpenBao.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use super::moto::element;

/// One role of the mount: the IAM principal it binds and what its tokens carry.
#[derive(Clone)]
pub struct AwsRole {
    pub bound_iam_principal_arn: String,
    pub policies: Vec<String>,
    /// Token TTL (also its max TTL, so vaultgate logs in again at about two thirds of it).
    pub ttl: &'static str,
}

#[derive(Clone)]
struct Mount {
    openbao: String,
    sts_endpoint: String,
    /// `iam_server_id_header_value` of `auth/aws/config/client`.
    server_id: Option<String>,
    roles: HashMap<String, AwsRole>,
    logins: Arc<Mutex<Vec<Attempt>>>,
    http: reqwest::Client,
}

/// One login as the method saw it: the access key that signed it, and what it answered.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub access_key_id: String,
    /// The accessor of the token issued, or the error answered.
    pub outcome: Result<String, String>,
}

pub struct AwsAuthMethod {
    pub address: String,
    logins: Arc<Mutex<Vec<Attempt>>>,
}

impl AwsAuthMethod {
    /// Serves on a free loopback port, relaying to `openbao` (`http://127.0.0.1:PORT`).
    pub async fn start(
        openbao: String,
        sts_endpoint: String,
        server_id: Option<&str>,
        roles: &[(&str, AwsRole)],
    ) -> AwsAuthMethod {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let logins = Arc::new(Mutex::new(Vec::new()));
        let mount = Mount {
            openbao,
            sts_endpoint,
            server_id: server_id.map(str::to_owned),
            roles: roles
                .iter()
                .map(|(n, r)| (n.to_string(), r.clone()))
                .collect(),
            logins: logins.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mount = mount.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let mount = mount.clone();
                        async move { Ok::<_, std::convert::Infallible>(mount.serve(req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        AwsAuthMethod { address, logins }
    }

    /// Every login so far, in order.
    pub fn logins(&self) -> Vec<Attempt> {
        self.logins.lock().unwrap().clone()
    }
}

/// The signed request a login carries, decoded.
struct Signed {
    url: Option<String>,
    body: Option<String>,
    headers: HashMap<String, Vec<String>>,
}

impl Signed {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.join(","))
    }
}

type Answer = hyper::Response<Full<Bytes>>;

fn answer(status: u16, body: &Value) -> Answer {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn refuse(message: String) -> Result<Value, String> {
    Err(message)
}

impl Mount {
    async fn serve(&self, req: hyper::Request<hyper::body::Incoming>) -> Answer {
        let (head, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        if head.method == "POST" && head.uri.path() == "/v1/auth/aws/login" {
            let login: Value = serde_json::from_slice(&body).unwrap_or_default();
            let (key, result) = self.login(&login).await;
            let outcome = match &result {
                Ok(auth) => Ok(auth["auth"]["accessor"].as_str().unwrap_or("").to_owned()),
                Err(e) => Err(e.clone()),
            };
            self.logins.lock().unwrap().push(Attempt {
                access_key_id: key,
                outcome,
            });
            return match result {
                Ok(auth) => answer(200, &auth),
                Err(e) => answer(400, &json!({ "errors": [e] })),
            };
        }
        // Anything else is OpenBao's.
        let mut relayed = self
            .http
            .request(head.method.clone(), format!("{}{}", self.openbao, head.uri));
        for (name, value) in &head.headers {
            if name != "host" {
                relayed = relayed.header(name, value);
            }
        }
        let resp = relayed.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap_or_default();
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(bytes))
            .unwrap()
    }

    /// The plugin's IAM login; returns the access key id that signed the request (for the
    /// tests' record) and the answer.
    async fn login(&self, login: &Value) -> (String, Result<Value, String>) {
        let decode = |field: &str| -> Option<String> {
            let raw = STANDARD.decode(login[field].as_str()?).ok()?;
            String::from_utf8(raw).ok()
        };
        let request = Signed {
            url: decode("iam_request_url"),
            body: decode("iam_request_body"),
            headers: decode("iam_request_headers")
                .and_then(|h| serde_json::from_str(&h).ok())
                .unwrap_or_default(),
        };
        let key = request
            .header("Authorization")
            .unwrap_or_default()
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').next())
            .unwrap_or("")
            .to_owned();
        (key, self.verify(login, request).await)
    }

    async fn verify(&self, login: &Value, request: Signed) -> Result<Value, String> {
        if login["iam_http_request_method"] != "POST" {
            return refuse(
                "invalid iam_http_request_method; currently only 'POST' is supported".into(),
            );
        }
        let url = request.url.clone().ok_or("missing iam_request_url")?;
        let url: reqwest::Url = url.parse().map_err(|_| "error parsing iam_request_url")?;
        if url.query().is_some() {
            return refuse("invalid request".into());
        }
        let body = request.body.clone().ok_or("missing iam_request_body")?;
        let mut action_ok = false;
        for (k, v) in url::form_urlencoded_parse(&body) {
            match k.as_str() {
                "Action" if v == "GetCallerIdentity" => action_ok = true,
                "Version" => {}
                _ => {
                    return refuse(
                        "error parsing iam_request_body: not a GetCallerIdentity request".into(),
                    )
                }
            }
        }
        if !action_ok {
            return refuse(
                "error parsing iam_request_body: not a GetCallerIdentity request".into(),
            );
        }
        if let Some(required) = &self.server_id {
            let header_name = "X-Vault-AWS-IAM-Server-ID";
            let provided = request.header(header_name).unwrap_or_default();
            let problem = if provided.is_empty() {
                Some(format!("missing header \"{header_name}\""))
            } else if &provided != required {
                Some(format!("expected \"{required}\" but got \"{provided}\""))
            } else {
                let authorization = request.header("Authorization").unwrap_or_default();
                let signed = authorization
                    .split("SignedHeaders=")
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .unwrap_or("");
                (!signed.split(';').any(|h| h == header_name.to_lowercase()))
                    .then(|| "vault header wasn't signed".to_owned())
            };
            if let Some(p) = problem {
                return refuse(format!("error validating {header_name} header: {p}"));
            }
        }
        // submitCallerIdentityRequest: the configured endpoint, the client's path, its Host.
        let mut sts = self
            .http
            .post(format!("{}{}", self.sts_endpoint, url.path()))
            .body(body.clone());
        for (name, values) in request.headers {
            for v in values {
                sts = sts.header(name.as_str(), v);
            }
        }
        let resp = sts
            .send()
            .await
            .map_err(|e| format!("error making upstream request: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = resp.text().await.unwrap_or_default();
        if status != 200 {
            return refuse(format!(
                "error making upstream request: received error code {status} from STS: {text}"
            ));
        }
        if !content_type.starts_with("text/xml") {
            return refuse(
                "error making upstream request: invalid GetCallerIdentity response".into(),
            );
        }
        let arn = element(&text, "Arn");
        let role_name = login["role"].as_str().unwrap_or("");
        let role = self
            .roles
            .get(role_name)
            .ok_or(format!("entry for role {role_name} not found"))?;
        if role.bound_iam_principal_arn != arn {
            return refuse(format!(
                "IAM Principal \"{arn}\" does not belong to the role \"{role_name}\""
            ));
        }
        let (status, token) = self
            .root_call(json!({
                "policies": role.policies,
                "no_default_policy": true,
                "ttl": role.ttl,
                "explicit_max_ttl": role.ttl,
                "renewable": true,
                "display_name": format!("aws-{role_name}"),
                "meta": { "role": role_name, "canonical_arn": arn, "account_id": element(&text, "Account") },
            }))
            .await;
        if status != 200 {
            return refuse(format!("token create: {status} {token}"));
        }
        Ok(token)
    }

    async fn root_call(&self, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/v1/auth/token/create", self.openbao))
            .header("x-vault-token", "root")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }
}

/// `application/x-www-form-urlencoded` pairs, decoded.
mod url {
    pub fn form_urlencoded_parse(body: &str) -> Vec<(String, String)> {
        body.split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    fn decode(s: &str) -> String {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    }
}
