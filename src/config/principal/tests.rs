//! `auth = "aws"` and `auth = "cert"` in the configuration: defaults, and every problem named
//! by file, key and what is wrong, all of a file's problems in one report.

use std::path::Path;

use super::super::{AuthConfig, Config, ConfigError};

fn parse(dir: &Path, vault: &str, services: &str) -> Result<Config, ConfigError> {
    for f in [
        "cert.pem",
        "key.pem",
        "ca.pem",
        "client.pem",
        "client-key.pem",
    ] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    let text = format!(
        "[vault]\n{vault}\n[[listener]]\naddress = \"127.0.0.1:8300\"\ntls_cert = \"cert.pem\"\n\
         tls_key = \"key.pem\"\nclient_ca = \"ca.pem\"\n{services}\n[policies]\ndir = \"policies\"\n"
    );
    Config::parse(&dir.join("vaultgate.toml"), &text)
}

const HTTPS: &str = "address = \"https://127.0.0.1:8200\"\nca_cert = \"ca.pem\"";
const HTTP: &str = "address = \"http://127.0.0.1:8200\"";

fn refused(r: Result<Config, ConfigError>) -> String {
    r.expect_err("config should be refused").to_string()
}

#[test]
fn aws_takes_its_defaults_from_the_region() {
    let d = tempfile::tempdir().unwrap();
    let c = parse(
        d.path(),
        HTTP,
        "[[service]]\nname = \"acme/billing\"\nauth = \"aws\"\nrole = \"billing\"\n\
         [[service]]\nname = \"acme/web\"\nauth = \"aws\"\nrole = \"web\"\nregion = \"eu-west-1\"\n\
         mount = \"aws-prod\"\nheader_value = \"vault.example.com\"\nprofile = \"web\"\n\
         [[service]]\nname = \"acme/jobs\"\nauth = \"aws\"\nrole = \"jobs\"\n\
         sts_endpoint = \"http://127.0.0.1:5000/\"",
    )
    .unwrap();
    let aws: Vec<_> = c
        .services
        .iter()
        .map(|s| match &s.principal.auth {
            AuthConfig::Aws(a) => a.clone(),
            other => panic!("not aws: {other:?}"),
        })
        .collect();
    assert_eq!(aws[0].mount, "aws");
    assert_eq!(aws[0].region, "us-east-1");
    assert_eq!(aws[0].sts_endpoint, "https://sts.amazonaws.com");
    assert_eq!(aws[0].header_value, None);
    assert_eq!(aws[1].mount, "aws-prod");
    assert_eq!(aws[1].sts_endpoint, "https://sts.eu-west-1.amazonaws.com");
    assert_eq!(aws[1].header_value.as_deref(), Some("vault.example.com"));
    assert_eq!(aws[1].profile.as_deref(), Some("web"));
    assert_eq!(aws[2].sts_endpoint, "http://127.0.0.1:5000");
    assert!(c.services.iter().all(|s| s.principal.revoke_on_shutdown));
}

#[test]
fn aws_problems_are_all_reported_with_their_keys() {
    let d = tempfile::tempdir().unwrap();
    let text = refused(parse(
        d.path(),
        HTTP,
        "[[service]]\nname = \"acme/billing\"\nauth = \"aws\"\nregion = \"EU West\"\n\
         sts_endpoint = \"https://sts.example.com/path\"\nheader_value = \"\"\n\
         jwt_file = \"client.pem\"",
    ));
    for expected in [
        "vaultgate.toml:8: service[0].role: required for auth = \"aws\"",
        "service[0].region: \"EU West\" is not an AWS region name",
        "service[0].sts_endpoint: \"https://sts.example.com/path\" must be http(s)://host[:port]",
        "service[0].header_value: must be printable ASCII, not empty",
        "service[0].jwt_file: does not apply to auth = \"aws\"",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

#[test]
fn cert_needs_an_https_vault_and_both_files() {
    let d = tempfile::tempdir().unwrap();
    let cert =
        "[[service]]\nname = \"acme/billing\"\nauth = \"cert\"\nclient_cert = \"client.pem\"\n\
                client_key = \"client-key.pem\"\n";
    let c = parse(d.path(), HTTPS, cert).unwrap();
    match &c.services[0].principal.auth {
        AuthConfig::Cert(cert) => {
            assert_eq!(cert.mount, "cert");
            assert_eq!(cert.role, None);
            assert_eq!(cert.client_cert, d.path().join("client.pem"));
        }
        other => panic!("not cert: {other:?}"),
    }
    let text = refused(parse(d.path(), HTTP, cert));
    assert!(
        text.contains(
            "service[0].auth: auth = \"cert\" needs an https [vault] address: Vault reads the \
             client certificate from the TLS handshake"
        ),
        "{text}"
    );
    // The issuer too, and every other problem of the file in the same report.
    let text = refused(parse(
        d.path(),
        HTTP,
        &format!(
            "{cert}[[service]]\nname = \"acme/web\"\nauth = \"cert\"\nrole = \"web\"\n\
             client_cert = \"missing.pem\"\nclient_key = \"client-key.pem\"\n\
             [issuer]\nauth = \"cert\"\nclient_cert = \"client.pem\"\nclient_key = \"client-key.pem\"\n\
             region = \"us-east-1\""
        ),
    ));
    for expected in [
        "service[0].auth: auth = \"cert\" needs an https [vault] address",
        "issuer.auth: auth = \"cert\" needs an https [vault] address",
        "service[1].client_cert: file ",
        "issuer.region: does not apply to auth = \"cert\"",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}

#[test]
fn the_issuer_may_log_in_with_aws_or_cert() {
    let d = tempfile::tempdir().unwrap();
    for issuer in [
        "auth = \"aws\"\nrole = \"issuer\"",
        "auth = \"cert\"\nclient_cert = \"client.pem\"\nclient_key = \"client-key.pem\"",
    ] {
        let c = parse(
            d.path(),
            HTTPS,
            &format!(
                "[[service]]\nname = \"acme/billing\"\nauth = \"issued\"\npolicies = [\"p\"]\n\
                 [issuer]\n{issuer}\n"
            ),
        )
        .unwrap();
        assert!(matches!(
            c.issuer.unwrap().auth,
            AuthConfig::Aws(_) | AuthConfig::Cert(_)
        ));
    }
}
