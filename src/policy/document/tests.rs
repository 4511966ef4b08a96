//! Parsing policy files: accepted syntax, Vault's validations, and errors naming file:line.

use std::path::Path;
use std::time::Duration;

use super::*;

fn hcl(text: &str) -> PolicyDocument {
    match parse(Path::new("policies/acme.hcl"), text, Format::Hcl) {
        Ok(doc) => doc,
        Err(err) => panic!("{err}"),
    }
}

fn error(file: &str, text: &str) -> String {
    let format = Format::from_path(Path::new(file)).unwrap_or(Format::Hcl);
    match parse(Path::new(file), text, format) {
        Ok(doc) => panic!("accepted: {doc:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn parses_hcl_blocks_and_settings() {
    let doc = hcl(r#"
name = "acme"
path "/secret/data/{{tenant}}/*" {
  capabilities = ["read", "list"]
  comment = "why"
}
path "sys/wrapping/wrap" {
  capabilities = ["update", "create"]
  min_wrapping_ttl = 60
  max_wrapping_ttl = "5m"
  allowed_parameters = { "Color" = ["gr*"], "*" = [] }
  denied_parameters = { "size" = [] }
  required_parameters = ["owner"]
}
"#);
    assert_eq!(doc.name.as_deref(), Some("acme"));
    assert_eq!(doc.rules.len(), 2);
    let first = &doc.rules[0];
    assert_eq!(
        first.pattern, "secret/data/{{tenant}}/*",
        "leading / stripped"
    );
    assert_eq!(first.line, 3);
    assert!(first.grants.contains(Capability::Read) && first.grants.contains(Capability::List));
    assert!(!first.grants.contains(Capability::Update));
    let second = &doc.rules[1];
    assert_eq!(second.min_wrapping_ttl, Some(Duration::from_secs(60)));
    assert_eq!(second.max_wrapping_ttl, Some(Duration::from_secs(300)));
    let allowed = second.allowed_parameters.clone().unwrap_or_default();
    assert!(allowed.contains_key("color"), "names are lowercased");
    assert_eq!(allowed.get("*"), Some(&Vec::new()));
    assert_eq!(second.required_parameters, vec!["owner".to_owned()]);
}

#[test]
fn legacy_policy_expands() {
    let doc = hcl(r#"
path "a" { policy = "read" }
path "b" { policy = "write" }
path "c" { policy = "sudo" }
path "d" { policy = "deny" }
"#);
    let g: Vec<Grants> = doc.rules.iter().map(|r| r.grants).collect();
    assert!(g[0].contains(Capability::Read) && g[0].contains(Capability::List));
    assert!(!g[0].contains(Capability::Update));
    for cap in [Capability::Create, Capability::Update, Capability::Delete] {
        assert!(g[1].contains(cap));
    }
    assert!(!g[1].contains(Capability::Sudo) && !g[1].contains(Capability::Patch));
    assert!(g[2].contains(Capability::Sudo));
    assert!(g[3].is_deny());
}

#[test]
fn deny_leaves_nothing_else() {
    let doc = hcl(r#"path "a" { capabilities = ["read", "deny"] }"#);
    assert!(doc.rules[0].grants.is_deny());
    assert!(!doc.rules[0].grants.contains(Capability::Read));
}

#[test]
fn empty_allowed_map_restricts_nothing() {
    let doc = hcl("path \"a\" {\n capabilities = [\"read\"]\n allowed_parameters = {}\n}");
    assert_eq!(doc.rules[0].allowed_parameters, None);
}

#[test]
fn json_form_with_lines_and_duplicates() {
    let text = r#"{
  "path": {
    "secret/data/json/*": {"capabilities": ["read"]},
    "secret/data/json/deny": {"capabilities": ["deny"]},
    "secret/data/json/deny": {"capabilities": ["read"]}
  }
}"#;
    let doc = match parse(Path::new("acme.json"), text, Format::Json) {
        Ok(doc) => doc,
        Err(err) => panic!("{err}"),
    };
    let lines: Vec<u32> = doc.rules.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    assert!(
        doc.rules[1].grants.is_deny(),
        "a repeated key is kept, not replaced"
    );
}

#[test]
fn errors_name_file_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "policies/acme.hcl",
            "path \"a\" {\n  capabilities = [\"read\"]\n}\npath \"b\" {\n  capabilities = [\"READ\"]\n}\n",
            "policies/acme.hcl:5: unknown capability \"READ\"",
        ),
        (
            "acme.hcl",
            "path \"a\" { capabilities = [\"subscribe\"] }",
            "acme.hcl:1: unknown capability \"subscribe\"",
        ),
        (
            "acme.json",
            "{\"path\": {\n \"a\": {\n  \"capabilities\": [\"Read\"]}}}",
            "acme.json:3: unknown capability \"Read\"",
        ),
        (
            "acme.hcl",
            "\n\npath \"secret/+*\" { capabilities = [\"read\"] }",
            "acme.hcl:3: path \"secret/+*\": invalid use of wildcards ('+*' is forbidden)",
        ),
        (
            "acme.hcl",
            "path \"a\" {\n  capabilities = [\"read\"]\n  mfa_methods = [\"x\"]\n}",
            "acme.hcl:3: \"mfa_methods\" is not supported by vaultgate",
        ),
        (
            "acme.hcl",
            "path \"a\" {\n  control_group = {}\n}",
            "acme.hcl:2: \"control_group\" is not supported by vaultgate",
        ),
        (
            "acme.json",
            "{\"path\": {\"a\": {\n\"pagination_limit\": 5}}}",
            "acme.json:2: \"pagination_limit\" is not supported by vaultgate",
        ),
        (
            "acme.hcl",
            "path \"a\" { list_scan_response_keys_filter_path = \"x\" }",
            "acme.hcl:1: \"list_scan_response_keys_filter_path\" is not supported by vaultgate",
        ),
        (
            "acme.hcl",
            "path \"a\" {\n  capability = [\"read\"]\n}",
            "acme.hcl:2: unknown key \"capability\" in path block",
        ),
        (
            "acme.hcl",
            "name = \"x\"\nrules = 1\n",
            "acme.hcl:2: unknown top-level key \"rules\"",
        ),
        (
            "acme.hcl",
            "path \"secret/{{identity.entity.id}}/*\" { capabilities = [\"read\"] }",
            "unknown template \"{{identity.entity.id}}\"",
        ),
        (
            "acme.hcl",
            "path \"a\" { policy = \"admin\" }",
            "acme.hcl:1: unknown legacy policy \"admin\"",
        ),
        (
            "acme.hcl",
            "path \"a\" {\n min_wrapping_ttl = \"5 minutes\"\n}",
            "acme.hcl:2: \"min_wrapping_ttl\": invalid duration",
        ),
        (
            "acme.hcl",
            "path \"a\" {\n min_wrapping_ttl = 600\n max_wrapping_ttl = 60\n}",
            "max_wrapping_ttl cannot be less than min_wrapping_ttl",
        ),
        (
            "acme.hcl",
            "path \"a\" { expiration = \"tomorrow\" }",
            "acme.hcl:1: invalid expiration \"tomorrow\"",
        ),
        (
            "acme.hcl",
            "path \"a\" { capabilities = [var.x] }",
            "acme.hcl:1: expressions",
        ),
        ("acme.hcl", "path \"a\" {\n  capabilities = [\n", "acme.hcl:2: syntax error"),
        ("acme.json", "{\"path\": \n\n{,}}", "acme.json:3: syntax error"),
        ("acme.hcl", "path { capabilities = [] }", "acme.hcl:1: a path block needs exactly one"),
    ];
    for (file, text, expected) in cases {
        let got = error(file, text);
        assert!(
            got.contains(expected),
            "{text:?}\n got: {got}\nwant: {expected}"
        );
    }
}

#[test]
fn durations_are_read_as_vault_reads_them() {
    for (value, secs) in [
        ("\"1.5h\"", 5400),
        ("\"90000ms\"", 90),
        ("\"1d\"", 86_400),
        ("\"1h30m\"", 5400),
        ("\"90\"", 90),
        ("90", 90),
    ] {
        let text = format!("path \"a\" {{\n min_wrapping_ttl = {value}\n}}");
        let doc = hcl(&text);
        assert_eq!(
            doc.rules[0].min_wrapping_ttl,
            Some(Duration::from_secs(secs)),
            "{value}"
        );
    }
    for (value, expected) in [
        ("1.5", "1.5 is not a whole number of seconds"),
        ("\"-5s\"", "\"-5s\" is negative"),
        ("\"1.5d\"", "\"1.5d\" is not a duration"),
    ] {
        let text = format!("path \"a\" {{\n max_wrapping_ttl = {value}\n}}");
        let got = error("acme.hcl", &text);
        assert!(got.contains(expected), "{value}: {got}");
        assert!(
            got.contains("durations are a whole number of seconds"),
            "{got}"
        );
    }
}

#[test]
fn expiration_parses_rfc3339() {
    let doc = hcl("path \"a\" {\n expiration = \"2001-02-03T04:05:06Z\"\n}");
    let expected = SystemTime::UNIX_EPOCH + Duration::from_secs(981_173_106);
    assert_eq!(doc.rules[0].expires, Some(expected));
}

#[test]
fn a_name_twice_in_one_parameter_map_is_refused_or_joined_as_openbao_reads_it() {
    // OpenBao 2.7.2 denies both "a" and "b" here; hcl-edit kept only the last list, so
    // vaultgate denied "b" alone and forwarded "a".
    let twice = "path \"kv/x\" {\n  capabilities = [\"update\"]\n  denied_parameters = {\n    \"k\" = [\"a\"]\n    \"k\" = [\"b\"]\n  }\n}";
    let got = error("acme.hcl", twice);
    assert!(
        got.contains("acme.hcl:4: \"k\" appears twice in one object"),
        "{got}"
    );
    let nested = "path \"kv/x\" {\n  capabilities = [\"update\"]\n  allowed_parameters = { \"m\" = [{ a = \"1\", a = \"2\" }] }\n}";
    assert!(error("acme.hcl", nested).contains("\"a\" appears twice"));
    // Two spellings of one name: Vault keeps one of them, which one varies.
    let case = "path \"kv/x\" {\n  capabilities = [\"update\"]\n  allowed_parameters = {\n    \"k\" = [\"a\"]\n    \"K\" = [\"b\"]\n  }\n}";
    assert!(
        error("acme.hcl", case)
            .contains("acme.hcl:5: parameters \"k\" and \"K\" differ only in case"),
        "{}",
        error("acme.hcl", case)
    );
    // JSON keeps a repeated key, and its lists are joined as in OpenBao.
    let json = r#"{"path": {"kv/x": {"capabilities": ["update"], "denied_parameters": {"k": ["a"], "k": ["b"]}}}}"#;
    let doc = match parse(Path::new("acme.json"), json, Format::Json) {
        Ok(doc) => doc,
        Err(err) => panic!("{err}"),
    };
    let denied = doc.rules[0].denied_parameters.clone().unwrap_or_default();
    assert_eq!(denied["k"], vec![Value::from("a"), Value::from("b")]);
    // Spaces, commas and comments around the entries are not a repeat.
    let fine = hcl("path \"kv/x\" {\n  capabilities = [\"update\"]\n  allowed_parameters = {\n    # names\n    k = [\"a\"] # any\n    \"j\" : /* c */ [], // j\n    l = [{ a = 1, b = 2 }]\n  }\n}");
    let allowed = fine.rules[0].allowed_parameters.clone().unwrap_or_default();
    assert_eq!(allowed.len(), 3, "{allowed:?}");
}
