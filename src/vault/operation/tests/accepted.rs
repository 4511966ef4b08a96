//! Requests classify accepts: verb, namespace, paths, query, params and the upstream target,
//! each also checked to round-trip through its own upstream target.

use serde_json::Value;

use super::super::Verb;
use super::{accept, assert_round_trip};

struct Case {
    method: &'static str,
    uri: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    verb: Verb,
    namespace: &'static str,
    path: &'static str,
    full_path: &'static str,
    query: &'static [(&'static str, &'static str)],
    /// JSON text of the expected params.
    params: &'static str,
    target: &'static str,
}

const fn get(uri: &'static str, verb: Verb, path: &'static str, target: &'static str) -> Case {
    Case {
        method: "GET",
        uri,
        headers: &[],
        body: "",
        verb,
        namespace: "",
        path,
        full_path: path,
        query: &[],
        params: "{}",
        target,
    }
}

const fn in_ns(
    headers: &'static [(&'static str, &'static str)],
    namespace: &'static str,
    full_path: &'static str,
    target: &'static str,
) -> Case {
    Case {
        headers,
        namespace,
        full_path,
        ..get("/v1/secret/data/b", Verb::Read, "secret/data/b", target)
    }
}

const CASES: &[Case] = &[
    get(
        "/v1/secret/data/b",
        Verb::Read,
        "secret/data/b",
        "/v1/secret/data/b",
    ),
    // Every escape is decoded once, the way Vault routes it.
    get(
        "/v1/secret/data/%62",
        Verb::Read,
        "secret/data/b",
        "/v1/secret/data/b",
    ),
    get(
        "/v1/secret/data/a%252Fx",
        Verb::Read,
        "secret/data/a%2Fx",
        "/v1/secret/data/a%252Fx",
    ),
    get(
        "/v1/secret/data/b%20x",
        Verb::Read,
        "secret/data/b x",
        "/v1/secret/data/b%20x",
    ),
    get(
        "/v1/secret/data/b;x",
        Verb::Read,
        "secret/data/b;x",
        "/v1/secret/data/b%3Bx",
    ),
    get(
        "/v1/secret/data/b%3Fx",
        Verb::Read,
        "secret/data/b?x",
        "/v1/secret/data/b%3Fx",
    ),
    get(
        "/v1/secret/data/b%23x",
        Verb::Read,
        "secret/data/b#x",
        "/v1/secret/data/b%23x",
    ),
    get(
        "/v1/secret/data/%C3%A9",
        Verb::Read,
        "secret/data/\u{e9}",
        "/v1/secret/data/%C3%A9",
    ),
    get(
        "/v1/kv/a+b~c-d_e.f",
        Verb::Read,
        "kv/a+b~c-d_e.f",
        "/v1/kv/a%2Bb~c-d_e.f",
    ),
    get("/v1/kv/a..b/.c", Verb::Read, "kv/a..b/.c", "/v1/kv/a..b/.c"),
    // list/scan from the query; `/` is appended exactly once.
    get(
        "/v1/kv/meta?list=true",
        Verb::List,
        "kv/meta/",
        "/v1/kv/meta/?list=true",
    ),
    get(
        "/v1/kv/meta/?list=1",
        Verb::List,
        "kv/meta/",
        "/v1/kv/meta/?list=true",
    ),
    get(
        "/v1/kv/meta?%6cist=T",
        Verb::List,
        "kv/meta/",
        "/v1/kv/meta/?list=true",
    ),
    get("/v1/kv/meta?list=", Verb::Read, "kv/meta", "/v1/kv/meta"),
    get(
        "/v1/kv/meta?list=False",
        Verb::Read,
        "kv/meta",
        "/v1/kv/meta",
    ),
    get(
        "/v1/kv/meta?scan=TRUE",
        Verb::Scan,
        "kv/meta/",
        "/v1/kv/meta/?scan=true",
    ),
    get(
        "/v1/kv/meta?scan=f&list=t",
        Verb::List,
        "kv/meta/",
        "/v1/kv/meta/?list=true",
    ),
    // help wins over the method and is never part of the data.
    get(
        "/v1/sys/mounts?help=1",
        Verb::Help,
        "sys/mounts",
        "/v1/sys/mounts?help=1",
    ),
    get(
        "/v1/sys/mounts?help=+",
        Verb::Help,
        "sys/mounts",
        "/v1/sys/mounts?help=1",
    ),
    get(
        "/v1/sys/mounts?help=",
        Verb::Read,
        "sys/mounts",
        "/v1/sys/mounts",
    ),
    Case {
        query: &[("version", "2")],
        params: r#"{"version":"2"}"#,
        ..get(
            "/v1/kv/a?list=0&version=2",
            Verb::Read,
            "kv/a",
            "/v1/kv/a?version=2",
        )
    },
    Case {
        query: &[("a", "1"), ("a", "2"), ("b", "x y"), ("", "v"), ("k", "")],
        params: r#"{"a":["1","2"],"b":"x y","":"v","k":""}"#,
        ..get(
            "/v1/kv/a?a=1&&a=2&b=x+y&=v&k&",
            Verb::Read,
            "kv/a",
            "/v1/kv/a?a=1&a=2&b=x%20y&=v&k=",
        )
    },
    Case {
        query: &[("k=1", "a&b;c"), ("\u{200b}", "%")],
        params: r#"{"k=1":"a&b;c","\u200b":"%"}"#,
        ..get(
            "/v1/kv/a?k%3D1=a%26b%3Bc&%E2%80%8B=%25",
            Verb::Read,
            "kv/a",
            "/v1/kv/a?k%3D1=a%26b%3Bc&%E2%80%8B=%25",
        )
    },
    Case {
        method: "LIST",
        ..get(
            "/v1/kv/meta/app",
            Verb::List,
            "kv/meta/app/",
            "/v1/kv/meta/app/?list=true",
        )
    },
    Case {
        method: "SCAN",
        ..get(
            "/v1/kv/meta/app/",
            Verb::Scan,
            "kv/meta/app/",
            "/v1/kv/meta/app/?scan=true",
        )
    },
    Case {
        method: "HELP",
        query: &[("x", "1")],
        params: r#"{"x":"1"}"#,
        ..get(
            "/v1/sys/mounts?x=1",
            Verb::Help,
            "sys/mounts",
            "/v1/sys/mounts?x=1&help=1",
        )
    },
    Case {
        method: "POST",
        body: "not json: the body of a help request is dropped",
        ..get("/v1/kv/a?help=1", Verb::Help, "kv/a", "/v1/kv/a?help=1")
    },
    // Writes read the body only; the query is ignored and not forwarded.
    Case {
        method: "POST",
        headers: &[("content-type", "application/json; charset=utf-8")],
        body: "{\"data\":{\"a\":1,\"b\":[true,null,1.5]},\"options\":{\"cas\":0}}\n",
        params: r#"{"data":{"a":1,"b":[true,null,1.5]},"options":{"cas":0}}"#,
        ..get(
            "/v1/secret/data/b?list=true&x=1",
            Verb::Write,
            "secret/data/b",
            "/v1/secret/data/b",
        )
    },
    Case {
        method: "PUT",
        headers: &[("content-type", "application/x-www-form-urlencoded")],
        ..get(
            "/v1/auth/token/create",
            Verb::Write,
            "auth/token/create",
            "/v1/auth/token/create",
        )
    },
    Case {
        method: "PATCH",
        headers: &[("content-type", "application/merge-patch+json")],
        body: r#"{"data":{"a":"2"}}"#,
        params: r#"{"data":{"a":"2"}}"#,
        ..get(
            "/v1/secret/data/b",
            Verb::Patch,
            "secret/data/b",
            "/v1/secret/data/b",
        )
    },
    Case {
        method: "DELETE",
        body: "ignored",
        query: &[("versions", "1")],
        params: r#"{"versions":"1"}"#,
        ..get(
            "/v1/kv/a?versions=1",
            Verb::Delete,
            "kv/a",
            "/v1/kv/a?versions=1",
        )
    },
    Case {
        method: "HEAD",
        ..get("/v1/sys/health", Verb::Head, "sys/health", "/v1/sys/health")
    },
    // X-HTTP-Method-Override is not honoured, as in Vault.
    Case {
        headers: &[("x-http-method-override", "DELETE")],
        ..get("/v1/kv/a", Verb::Read, "kv/a", "/v1/kv/a")
    },
    Case {
        headers: &[
            ("connection", "keep-alive, Close"),
            ("content-encoding", "identity"),
            ("authorization", "Bearer s.x"),
            ("x-vault-wrap-ttl", "0"),
        ],
        ..get("/v1/kv/a", Verb::Read, "kv/a", "/v1/kv/a")
    },
    // Namespaces go into the forwarded path.
    in_ns(
        &[("x-vault-namespace", "ns1")],
        "ns1",
        "ns1/secret/data/b",
        "/v1/ns1/secret/data/b",
    ),
    in_ns(
        &[("X-Vault-Namespace", " /ns1/child/ ")],
        "ns1/child",
        "ns1/child/secret/data/b",
        "/v1/ns1/child/secret/data/b",
    ),
    in_ns(
        &[("x-vault-namespace", "root/")],
        "",
        "secret/data/b",
        "/v1/secret/data/b",
    ),
    in_ns(
        &[("x-vault-namespace", "/")],
        "",
        "secret/data/b",
        "/v1/secret/data/b",
    ),
    in_ns(
        &[("x-vault-namespace", "")],
        "",
        "secret/data/b",
        "/v1/secret/data/b",
    ),
    Case {
        method: "LIST",
        headers: &[("x-vault-namespace", "ns1")],
        namespace: "ns1",
        full_path: "ns1/kv/\u{e9}/",
        ..get(
            "/v1/kv/%C3%A9",
            Verb::List,
            "kv/\u{e9}/",
            "/v1/ns1/kv/%C3%A9/?list=true",
        )
    },
];

#[test]
fn accepted_requests() {
    for case in CASES {
        let op = accept(case.method, case.uri, case.headers, case.body);
        let what = format!("{} {}", case.method, case.uri);
        assert_eq!(op.verb, case.verb, "{what}");
        assert_eq!(op.namespace, case.namespace, "{what}");
        assert_eq!(op.path, case.path, "{what}");
        assert_eq!(op.full_path, case.full_path, "{what}");
        let query: Vec<(&str, &str)> = op
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(query, case.query, "{what}");
        let params: Value = match serde_json::from_str(case.params) {
            Ok(params) => params,
            Err(e) => panic!("bad expected params in test {what}: {e}"),
        };
        assert_eq!(Value::Object(op.params.clone()), params, "{what}");
        assert_eq!(op.upstream_target(), case.target, "{what}");
        assert_round_trip(&op);
    }
}
