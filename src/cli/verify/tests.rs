//! Unit tests for `vaultgate verify`: argument and environment checks, and what the report
//! says about answers (keys, never values; tokens by accessor or hash, never themselves).

use std::path::PathBuf;

use serde_json::json;
use zeroize::Zeroizing;

use super::report::{answer, describe_login, describe_secret, fingerprint};
use super::setup::{self, CredentialSource, Environment, SetupError};
use super::*;

fn args(role_id_file: Option<PathBuf>, secret_id_file: Option<PathBuf>) -> VerifyArgs {
    VerifyArgs {
        role: "my-app-role".into(),
        path: "secret/data/api".into(),
        auth: VerifyAuth::Approle,
        mount: None,
        region: None,
        header_value: None,
        sts_endpoint: None,
        profile: None,
        role_id_file,
        secret_id_file,
    }
}

fn env() -> Environment {
    Environment {
        addr: Some("http://127.0.0.1:8200".into()),
        ca_cert: None,
        client_cert: None,
        client_key: None,
        namespace: String::new(),
        role_id: None,
        secret_id: None,
        token: None,
    }
}

#[test]
fn credentials_come_from_flags_variables_or_the_bootstrap_token() {
    let dir = tempfile::tempdir().unwrap();
    let role_file = dir.path().join("role_id");
    std::fs::write(&role_file, "rid-from-file\n").unwrap();

    let mut e = env();
    assert!(matches!(
        setup::credential_source(&args(None, None), &e),
        Err(SetupError::NoCredentials)
    ));
    e.token = Some(Token::new("boot"));
    assert!(matches!(
        setup::credential_source(&args(None, None), &e),
        Ok(CredentialSource::Bootstrap)
    ));
    e.secret_id = Some(Zeroizing::new("sid".into()));
    assert!(matches!(
        setup::credential_source(&args(None, None), &e),
        Err(SetupError::NoRoleId)
    ));
    e.role_id = Some(Zeroizing::new("rid-from-env".into()));
    match setup::credential_source(&args(Some(role_file.clone()), None), &e).unwrap() {
        CredentialSource::Supplied {
            credentials,
            origin,
        } => {
            // The flag wins over the variable; the origin names both, the values neither.
            assert_eq!(credentials.role_id.as_str(), "rid-from-file");
            assert_eq!(credentials.secret_id.as_str(), "sid");
            assert!(origin.contains("VAULT_SECRET_ID"), "{origin}");
            assert!(
                !origin.contains("sid-") && !origin.contains("rid-"),
                "{origin}"
            );
            let shown = format!("{credentials:?} {e:?}");
            assert!(
                !shown.contains("rid-") && !shown.contains("boot"),
                "{shown}"
            );
        }
        other => panic!("{other:?}"),
    }
    let missing = dir.path().join("absent");
    assert!(matches!(
        setup::credential_source(&args(None, Some(missing)), &e),
        Err(SetupError::Credential(_))
    ));
}

#[test]
fn the_address_and_tls_variables_are_checked_before_anything_is_sent() {
    let mut e = env();
    let cfg = setup::vault_config(&e).unwrap();
    assert_eq!(cfg.addresses, ["http://127.0.0.1:8200"]);
    assert!(cfg.ca_cert.is_none());
    e.addr = Some("https://vault.example:8200/".into());
    assert!(matches!(setup::vault_config(&e), Err(SetupError::NoCaCert)));
    e.ca_cert = Some("/nonexistent/ca.pem".into());
    assert!(matches!(
        setup::vault_config(&e),
        Err(SetupError::File { .. })
    ));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "x").unwrap();
    e.ca_cert = Some(ca.clone());
    e.client_cert = Some(ca);
    assert!(matches!(
        setup::vault_config(&e),
        Err(SetupError::HalfIdentity)
    ));
    for bad in ["127.0.0.1:8200", "ftp://h:1", "http://h:1/v1"] {
        e.addr = Some(bad.into());
        assert!(
            matches!(setup::vault_config(&e), Err(SetupError::Address { .. })),
            "{bad}"
        );
    }
    e.addr = None;
    assert!(matches!(
        setup::vault_config(&e),
        Err(SetupError::NoAddress)
    ));
}

#[test]
fn paths_and_roles_are_refused_rather_than_rewritten() {
    assert_eq!(
        setup::vault_path("path", "/secret/data/api").unwrap(),
        "secret/data/api"
    );
    for bad in [
        "",
        "secret//api",
        "secret/../sys",
        "secret/./api",
        "secret/api/",
        "secret/a b",
        "secret/a?x=1",
        "secret/%2e%2e",
        "secret\\api",
    ] {
        assert!(setup::vault_path("path", bad).is_err(), "{bad:?}");
    }
    assert_eq!(setup::role_name("my-app-role").unwrap(), "my-app-role");
    assert!(setup::role_name("a/b").is_err());
}

#[test]
fn reads_are_described_by_their_keys_never_their_values() {
    let kv2 = json!({"data": {"data": {"password": "hunter2", "user": "app"},
                              "metadata": {"version": 3}}});
    let shown = describe_secret(&kv2);
    assert_eq!(shown, "keys: password, user; version 3");
    let kv1 = json!({"data": {"token": "value-1"}});
    assert_eq!(describe_secret(&kv1), "keys: token");
    assert_eq!(describe_secret(&json!({"data": {}})), "no keys");
}

#[test]
fn answers_keep_vaults_words_and_tokens_are_named_without_themselves() {
    let denied = json!({"errors": ["permission denied"]});
    assert_eq!(
        answer(StatusCode::FORBIDDEN, &denied),
        "403 permission denied"
    );
    let wrapped = json!({"errors": ["1 error occurred:\n\t* permission denied\n\n"]});
    assert_eq!(
        answer(StatusCode::FORBIDDEN, &wrapped),
        "403 permission denied"
    );
    assert_eq!(
        answer(StatusCode::NOT_FOUND, &json!({"errors": []})),
        "404 Not Found"
    );
    let mut login = Login {
        token: Token::new("s.topsecret"),
        ttl: None,
        renewable: false,
        from_file: None,
        renew_via: None,
    };
    let hashed = fingerprint(&login);
    assert!(
        hashed.starts_with("sha256:") && hashed.len() == 15,
        "{hashed}"
    );
    assert!(!hashed.contains("topsecret"));
    login.token = login
        .token
        .with_accessor(Accessor::from_field(&"acc-1".into()));
    assert_eq!(describe_login(&login), "token accessor acc-1");
}
