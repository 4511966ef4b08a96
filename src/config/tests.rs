//! Config validation: every refusal names the file, the key and the problem.

use super::*;

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        let d = tempfile::tempdir().unwrap();
        for f in ["cert.pem", "key.pem", "ca.pem", "role", "secret", "token"] {
            std::fs::write(d.path().join(f), "x").unwrap();
        }
        std::fs::create_dir(d.path().join("policies")).unwrap();
        Dir(d)
    }
    fn parse(&self, text: &str) -> Result<Config, ConfigError> {
        Config::parse(&self.0.path().join("vaultgate.toml"), text)
    }
}

const GOOD: &str = r#"
[vault]
address = "http://127.0.0.1:8200"
[[listener]]
address = "127.0.0.1:8300"
tls_cert = "cert.pem"
tls_key = "key.pem"
client_ca = "ca.pem"
[[listener]]
unix = "vg.sock"
mode = "0660"
tls_disable = true
caller = "acme/web"
[[service]]
name = "acme/billing"
auth = "approle"
role_id_file = "role"
secret_id_file = "secret"
[[service]]
name = "acme/web"
auth = "token_file"
token_file = "token"
[policies]
dir = "policies"
[limits]
handshake_timeout = "2s"
max_body_bytes = 4096
"#;

fn message(r: Result<Config, ConfigError>) -> String {
    r.expect_err("config should be refused").to_string()
}

#[test]
fn accepts_the_documented_shape_and_resolves_paths_against_the_file() {
    let d = Dir::new();
    let c = d.parse(GOOD).unwrap();
    assert_eq!(c.services.len(), 2);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.limits.handshake_timeout, Duration::from_secs(2));
    assert_eq!(c.limits.max_body_bytes, 4096);
    assert_eq!(c.policies_dir, d.0.path().join("policies"));
    match &c.listeners[1].bind {
        Bind::Unix { path, mode } => {
            assert_eq!(path, &d.0.path().join("vg.sock"));
            assert_eq!(*mode, Some(0o660));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(
        c.listeners[1].identity,
        ListenerIdentity::Fixed(_)
    ));
}

#[test]
fn refusals_name_file_key_and_problem() {
    let d = Dir::new();
    let cases: &[(&str, &str, &str)] = &[
        (
            "[vault]\naddress",
            "[vault]\nbogus = 1\naddress",
            "vault.bogus: unknown key",
        ),
        (
            "address = \"127.0.0.1:8300\"",
            "address = \"10.0.0.1:8300\"\ntls_disable = true",
            "listener[0].tls_disable",
        ),
        (
            "http://127.0.0.1:8200",
            "ftp://x",
            "vault.address: must start with http",
        ),
        (
            "http://127.0.0.1:8200",
            "https://127.0.0.1:8200",
            "vault.ca_cert: required",
        ),
        (
            "auth = \"approle\"",
            "auth = \"ldap\"",
            "service[0].auth: unknown auth method \"ldap\"",
        ),
        (
            "role_id_file = \"role\"",
            "role_id_file = \"missing\"",
            "service[0].role_id_file: file",
        ),
        (
            "caller = \"acme/web\"",
            "caller = \"acme/other\"",
            "listener[1].caller: acme/other is not a configured",
        ),
        (
            "name = \"acme/billing\"",
            "name = \"acme/Bi*\"",
            "service[0].name",
        ),
        (
            "dir = \"policies\"",
            "dir = \"nope\"",
            "policies.dir: directory",
        ),
        (
            "handshake_timeout = \"2s\"",
            "handshake_timeout = \"2 parsecs\"",
            "limits.handshake_timeout",
        ),
        (
            "max_body_bytes = 4096",
            "max_body_bytes = 0",
            "limits.max_body_bytes: must be greater than 0",
        ),
        (
            "max_body_bytes = 4096",
            "rate_per_caller = 0",
            "limits.rate_per_caller: 0 is not a request rate",
        ),
        (
            "max_body_bytes = 4096",
            "rate_burst_per_caller = 10",
            "limits.rate_burst_per_caller: needs limits.rate_per_caller",
        ),
        (
            "max_body_bytes = 4096",
            "rate_per_caller = 5\nrate_burst_per_caller = 0",
            "limits.rate_burst_per_caller: must be greater than 0",
        ),
        (
            "max_body_bytes = 4096",
            "max_connections_per_caller = 0",
            "limits.max_connections_per_caller: must be greater than 0",
        ),
        (
            "client_ca = \"ca.pem\"",
            "client_ca = \"ca.pem\"\ncaller = \"acme/web\"",
            "listener[0].caller: set either",
        ),
        (
            "name = \"acme/web\"",
            "name = \"acme/billing\"",
            "configured twice",
        ),
    ];
    for (from, to, expected) in cases {
        assert!(GOOD.contains(from), "fixture lacks {from}");
        let msg = message(d.parse(&GOOD.replacen(from, to, 1)));
        assert!(msg.contains("vaultgate.toml"), "{msg} should name the file");
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
}

#[test]
fn audit_sinks_and_their_refusals() {
    let d = Dir::new();
    let with = |audit: &str| d.parse(&format!("{GOOD}\n[audit]\n{audit}\n"));
    let c = with(
        "file = \"a.jsonl\"\nstdout = true\nnetwork = \"tcp://127.0.0.1:6000\"\n\
         rotate_bytes = 1000\nfsync = \"interval\"\nfsync_interval = \"250ms\"",
    )
    .unwrap();
    assert_eq!(c.audit.sinks.len(), 3);
    match &c.audit.sinks[0] {
        crate::audit::SinkConfig::File(f) => {
            assert_eq!(f.rotate_bytes, Some(1000));
            assert_eq!(f.rotate_keep, 5);
            assert_eq!(
                f.fsync,
                crate::audit::Fsync::Interval(Duration::from_millis(250))
            );
        }
        other => panic!("{other:?}"),
    }
    let cases = [
        (
            "network = \"udp://x:1\"",
            "audit.network: \"udp://x:1\" is not",
        ),
        ("file = \"a\"\nfsync = \"sometimes\"", "audit.fsync:"),
        (
            "stdout = true\nrotate_bytes = 10",
            "audit.rotate_bytes: applies",
        ),
        ("file = \"a\"\nrotate_keep = 2", "audit.rotate_keep: needs"),
        (
            "stdout = true\nspill_bytes = 10",
            "audit.spill_bytes: applies",
        ),
        (
            "file = \"a\"\nfsync_interval = 1",
            "audit.fsync_interval: needs",
        ),
        ("file = \"a\"\nrotate = 1", "audit.rotate: unknown key"),
    ];
    for (audit, expected) in cases {
        let msg = message(with(audit));
        assert!(msg.contains("vaultgate.toml"), "{msg} should name the file");
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
}

#[test]
fn the_admin_listener_is_loopback_or_unix_with_a_real_token() {
    let d = Dir::new();
    std::fs::write(d.0.path().join("admin.token"), "0123456789abcdef\n").unwrap();
    let with = |admin: &str| d.parse(&format!("{GOOD}[admin]\n{admin}\n"));
    let c = with("address = \"127.0.0.1:8301\"\ntoken_file = \"admin.token\"").unwrap();
    let admin = c.admin.unwrap();
    assert!(matches!(admin.bind, Bind::Tcp(a) if a.port() == 8301));
    assert!(admin.token.matches(b"0123456789abcdef"));
    let c = with("unix = \"admin.sock\"\ntoken_file = \"admin.token\"").unwrap();
    assert!(matches!(
        c.admin.unwrap().bind,
        Bind::Unix {
            mode: Some(0o600),
            ..
        }
    ));
    assert!(d.parse(GOOD).unwrap().admin.is_none());

    std::fs::write(d.0.path().join("short.token"), "admin\n").unwrap();
    for (admin, expected) in [
        (
            "address = \"0.0.0.0:8301\"\ntoken_file = \"admin.token\"",
            "admin.address: 0.0.0.0:8301 is not a loopback address",
        ),
        (
            "address = \"10.1.2.3:8301\"\ntoken_file = \"admin.token\"",
            "is not a loopback address",
        ),
        ("address = \"127.0.0.1:8301\"", "admin.token_file: required"),
        (
            "address = \"127.0.0.1:8301\"\ntoken_file = \"missing\"",
            "admin.token_file: file",
        ),
        (
            "address = \"127.0.0.1:8301\"\ntoken_file = \"short.token\"",
            "admin.token_file: the admin token must be at least 16",
        ),
        (
            "address = \"127.0.0.1:8301\"\nunix = \"a.sock\"\ntoken_file = \"admin.token\"",
            "admin.address: set exactly one",
        ),
    ] {
        let msg = message(with(admin));
        assert!(
            msg.contains(expected),
            "{msg:?} should contain {expected:?}"
        );
    }
}

#[test]
fn every_problem_of_a_file_is_reported_with_its_line() {
    let d = Dir::new();
    let text = GOOD
        .replace(
            "address = \"http://127.0.0.1:8200\"",
            "address = \"http://127.0.0.1:8200\"\ntimeout = 10.5",
        )
        .replace(
            "tls_key = \"key.pem\"",
            "tls_key = \"nope.pem\"\nbogus = true",
        )
        .replace(
            "max_body_bytes = 4096",
            "max_body_bytes = \"4k\"\nidle_timeout = \"2 minutes\"",
        );
    let err = d.parse(&text).unwrap_err();
    let problems: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    let lines: Vec<_> = err.problems().iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(4), Some(8), Some(9), Some(29), Some(30)]);
    assert!(problems[0].starts_with("vault.timeout: 10.5 is not a whole number of seconds"));
    assert!(
        problems[1].starts_with("listener[0].tls_key: file "),
        "{}",
        problems[1]
    );
    assert_eq!(err.problems()[1].missing, Some(d.0.path().join("nope.pem")));
    assert!(problems[2].starts_with("listener[0].bogus: unknown key; the keys of [listener] are"));
    assert_eq!(
        problems[3],
        "limits.max_body_bytes: expected a whole number, found the string \"4k\""
    );
    assert!(problems[4].starts_with("limits.idle_timeout: \"2 minutes\" has an unknown unit"));
    let shown = err.to_string();
    assert!(shown.starts_with("5 problems in "), "{shown}");
    assert!(shown.contains("vaultgate.toml:4: vault.timeout"), "{shown}");
    for internal in ["RawDuration", "untagged", "usize", "struct Raw"] {
        assert!(!shown.contains(internal), "{shown}");
    }
}

#[test]
fn missing_tables_and_syntax_errors() {
    let d = Dir::new();
    let err = d.parse("[policies]\ndir = \"policies\"\n").unwrap_err();
    let shown: Vec<String> = err.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "vault: the [vault] table is required",
            "service: at least one [[service]] is required",
            "listener: at least one [[listener]] is required",
        ]
    );
    let err = d
        .parse("[vault]\naddress = \"http://x:1\"\ntimeout = \n")
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("TOML parse error at line 3, column 11"),
        "{shown}"
    );
    assert!(shown.contains("3 | timeout = \n"), "{shown}");
    assert!(shown.contains("  |           ^"), "{shown}");
    let err = d.parse("vault = 5\n").unwrap_err();
    assert!(
        err.to_string().contains("expected the [vault] table"),
        "{err}"
    );
}

#[test]
fn reading_names_the_file_once() {
    let err = Config::load(Path::new("/nonexistent/vaultgate.toml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/vaultgate.toml: cannot read: No such file or directory (os error 2)"
    );
    assert!(std::error::Error::source(&err).is_none());
}

#[test]
fn the_policy_directory_alone() {
    let d = Dir::new();
    let file = d.0.path().join("vaultgate.toml");
    std::fs::write(
        &file,
        "[vault]\naddress = 1\n[policies]\ndir = \"policies\"\n",
    )
    .unwrap();
    assert_eq!(
        Config::policies_dir(&file).unwrap(),
        d.0.path().join("policies")
    );
    std::fs::write(&file, "[policies]\ndir = \"elsewhere\"\n").unwrap();
    let err = Config::policies_dir(&file).unwrap_err().to_string();
    assert!(
        err.contains("vaultgate.toml:2: policies.dir: directory"),
        "{err}"
    );
}

#[test]
fn vault_addresses_list_a_clusters_nodes_and_refusals_name_the_entry() {
    let d = Dir::new();
    let vault = "address = \"http://127.0.0.1:8200\"";
    let with = |line: &str| GOOD.replace(vault, line);
    let c = d
        .parse(&with(
            "addresses = [\"http://127.0.0.1:8200\", \"http://127.0.0.2:8200/\"]",
        ))
        .unwrap();
    assert_eq!(
        c.vault.addresses,
        ["http://127.0.0.1:8200", "http://127.0.0.2:8200"]
    );
    assert!(c.vault.cluster);
    let one = d.parse(GOOD).unwrap();
    assert_eq!(
        (one.vault.addresses, one.vault.cluster),
        (vec!["http://127.0.0.1:8200".to_owned()], false)
    );
    let cases = [
        (
            format!("{vault}\naddresses = [\"http://127.0.0.2:8200\"]"),
            "vault.addresses: set exactly one of address (one node) or addresses",
        ),
        (String::new(), "vault.address: required"),
        ("addresses = []".into(), "vault.addresses: lists no node"),
        (
            "addresses = [\"http://a:8200\", \"ftp://b:8200\"]".into(),
            "vault.addresses[1]: must start with http",
        ),
        (
            "addresses = [\"http://a:8200\", \"HTTP://A:8200/\"]".into(),
            "vault.addresses[1]: HTTP://A:8200 is listed twice",
        ),
        (
            "addresses = [\"http://a:8200/v1\"]".into(),
            "vault.addresses[0]: must be scheme://host:port with no path",
        ),
        (
            "addresses = [\"http://a:8200\", \"https://b:8200\"]".into(),
            "vault.ca_cert: required for an https address",
        ),
    ];
    for (line, want) in cases {
        let got = message(d.parse(&with(&line)));
        assert!(got.contains(want), "{line}: {got}");
        assert!(got.contains("vaultgate.toml"), "{got}");
    }
}

#[test]
fn the_access_log_is_off_unless_asked_for_and_a_wrong_type_is_named() {
    let d = Dir::new();
    assert!(!d.parse(GOOD).unwrap().log.requests);
    let on = format!("{GOOD}[log]\nrequests = true\n");
    assert!(d.parse(&on).unwrap().log.requests);
    let wrong = message(d.parse(&format!("{GOOD}[log]\nrequests = \"yes\"\n")));
    assert!(wrong.contains("log.requests"), "{wrong}");
    let unknown = message(d.parse(&format!("{GOOD}[log]\nrequest = true\n")));
    assert!(unknown.contains("requests"), "{unknown}");
}
