//! `auth = "aws"` (Vault's aws auth method, IAM type): a `sts:GetCallerIdentity` request signed
//! with the host's AWS credentials, which Vault replays to STS to learn who signed it. The
//! credentials come from the AWS SDK's own chain, built afresh at every login because they
//! rotate; the secret key and session token never leave the signer and the login body.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::provider_config::ProviderConfig;
use aws_config::Region;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::Method;
use serde_json::{json, Value};

use super::{auth_answer, AuthError, Login};
use crate::config::AwsLogin;
use crate::upstream::Upstream;

/// The one request the aws auth method accepts (its login checks this body exactly).
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";
const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The header Vault compares with the mount's `iam_server_id_header_value`.
pub const SERVER_ID_HEADER: &str = "X-Vault-AWS-IAM-Server-ID";

/// Logs in once: credentials from the chain, the signed request, `auth/<mount>/login`.
pub async fn login(
    upstream: &Upstream,
    namespace: &str,
    aws: &AwsLogin,
) -> Result<Login, AuthError> {
    let credentials = credentials(aws).await?;
    let body = login_body(aws, credentials, SystemTime::now())?;
    let target = format!("/v1/auth/{}/login", aws.mount);
    let (status, answer) = upstream
        .call_json(Method::POST, &target, namespace, None, Some(&body))
        .await?;
    auth_answer("aws", status, &answer).map_err(|e| explain(aws, e))
}

/// The SDK's default chain: environment, shared config and credentials files (the profile,
/// `credential_process`, assumed roles), web identity token file, ECS container, EC2 instance
/// metadata. Built per login: the chain caches the parsed files, and rotated keys must count.
async fn credentials(aws: &AwsLogin) -> Result<Credentials, AuthError> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let region = Region::new(aws.region.clone());
    let config = ProviderConfig::without_region()
        .with_region(Some(region.clone()))
        .with_http_client(http);
    let mut chain = DefaultCredentialsChain::builder()
        .configure(config)
        .region(region);
    if let Some(profile) = &aws.profile {
        chain = chain.profile_name(profile);
    }
    chain
        .build()
        .await
        .provide_credentials()
        .await
        .map_err(|e| AuthError::AwsCredentials {
            // The SDK's errors name providers, files and profiles, never key material.
            problem: crate::upstream::error_chain(&e),
        })
}

/// The login body: the role and the signed request as the aws auth method reads it
/// (method, base64 URL, base64 body, base64 JSON of the headers as lists of values).
pub fn login_body(
    aws: &AwsLogin,
    credentials: Credentials,
    now: SystemTime,
) -> Result<Value, AuthError> {
    let url = format!("{}/", aws.sts_endpoint);
    let host = url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.as_str().to_owned()))
        .ok_or_else(|| AuthError::AwsSigning(format!("{url} has no host")))?;
    // Host is signed (SigV4 requires it) and sent, so Vault need not infer it.
    let mut headers: Vec<(String, String)> = vec![
        ("Host".into(), host),
        ("Content-Type".into(), CONTENT_TYPE.into()),
    ];
    if let Some(value) = &aws.header_value {
        headers.push((SERVER_ID_HEADER.into(), value.clone()));
    }
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&aws.region)
        .name("sts")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AuthError::AwsSigning(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|e| AuthError::AwsSigning(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| AuthError::AwsSigning(e.to_string()))?
        .into_parts();
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(instructions.headers())
    {
        all.entry(k.to_owned()).or_default().push(v.to_owned());
    }
    let headers = serde_json::to_string(&all).map_err(|e| AuthError::AwsSigning(e.to_string()))?;
    Ok(json!({
        "role": aws.role,
        "iam_http_request_method": "POST",
        "iam_request_url": STANDARD.encode(&url),
        "iam_request_body": STANDARD.encode(BODY),
        "iam_request_headers": STANDARD.encode(headers),
    }))
}

/// Vault's refusal of a server id header says what to compare, so the error says where.
fn explain(aws: &AwsLogin, e: AuthError) -> AuthError {
    match e {
        AuthError::Rejected { status, errors, .. } if errors.contains(SERVER_ID_HEADER) => {
            AuthError::AwsServerId {
                status,
                errors,
                sent: aws.header_value.is_some(),
                mount: aws.mount.clone(),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aws(header_value: Option<&str>) -> AwsLogin {
        AwsLogin {
            mount: "aws".into(),
            role: "billing".into(),
            region: "us-east-1".into(),
            header_value: header_value.map(str::to_owned),
            sts_endpoint: "https://sts.amazonaws.com".into(),
            profile: None,
        }
    }

    fn decoded(body: &Value, field: &str) -> String {
        let bytes = STANDARD.decode(body[field].as_str().unwrap()).unwrap();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn the_login_body_carries_a_signed_get_caller_identity_and_no_secret_key() {
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            secret,
            Some("SESSIONTOKEN".into()),
            None,
            "test",
        );
        let body = login_body(
            &aws(Some("vault.example.com")),
            credentials,
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        assert_eq!(body["role"], "billing");
        assert_eq!(body["iam_http_request_method"], "POST");
        assert_eq!(
            decoded(&body, "iam_request_url"),
            "https://sts.amazonaws.com/"
        );
        assert_eq!(decoded(&body, "iam_request_body"), BODY);
        let headers: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&decoded(&body, "iam_request_headers")).unwrap();
        let one = |k: &str| headers[k][0].clone();
        assert_eq!(one("Host"), "sts.amazonaws.com");
        assert_eq!(one(SERVER_ID_HEADER), "vault.example.com");
        let authorization = one("authorization");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/19700101/us-east-1/sts/aws4_request"
            ),
            "{authorization}"
        );
        // Vault refuses a server id header that is not among the signed ones.
        assert!(
            authorization.contains("x-vault-aws-iam-server-id"),
            "{authorization}"
        );
        // The session token is sent (STS needs it); the secret key is only ever signed with.
        assert_eq!(one("x-amz-security-token"), "SESSIONTOKEN");
        assert!(!body.to_string().contains(secret));
        assert!(!decoded(&body, "iam_request_headers").contains(secret));
    }

    #[test]
    fn without_a_header_value_no_server_id_header_is_sent() {
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let body = login_body(&aws(None), credentials, SystemTime::now()).unwrap();
        assert!(!decoded(&body, "iam_request_headers").contains(SERVER_ID_HEADER));
    }
}
