//! [tokens] `auth = "jwt"` against OpenBao's jwt auth method, configured with a key pair the
//! test generates; a replaced JWT file is used at the next login.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use crate::support::gate::{Gate, BROAD_VAULT_POLICY};
use crate::support::openbao::OpenBao;
use crate::support::pki::Pki;

struct Signer {
    key: EcdsaKeyPair,
    public_pem: String,
}

impl Signer {
    fn new() -> Signer {
        let pair = rcgen::KeyPair::generate().unwrap();
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &pair.serialize_der(),
            &rng,
        )
        .unwrap();
        Signer {
            key,
            public_pem: pair.public_key_pem(),
        }
    }

    /// An ES256 JWT for `sub`, valid for ten minutes.
    fn jwt(&self, sub: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "typ": "JWT"}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(
            json!({"sub": sub, "aud": "vaultgate", "iat": now, "nbf": now - 5, "exp": now + 600})
                .to_string(),
        );
        let input = format!("{header}.{claims}");
        let rng = ring::rand::SystemRandom::new();
        let signature = self.key.sign(&rng, input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

#[tokio::test]
async fn jwt_login_works_and_a_replaced_jwt_file_is_used_at_the_next_login() {
    let bao = OpenBao::start().await;
    bao.kv_put("acme/billing/db", json!({"password": "pw"}))
        .await;
    bao.write_policy("vaultgate-test-broad", BROAD_VAULT_POLICY)
        .await;
    let signer = Signer::new();
    let root = |m: &'static str, p: &'static str, b: serde_json::Value| {
        let bao = &bao;
        async move {
            let (status, body) = bao.api(m, p, Some(b), "root").await;
            assert!(status < 300, "{p}: {status} {body}");
        }
    };
    root("POST", "sys/auth/jwt", json!({"type": "jwt"})).await;
    root(
        "POST",
        "auth/jwt/config",
        json!({"jwt_validation_pubkeys": [signer.public_pem]}),
    )
    .await;
    root(
        "POST",
        "auth/jwt/role/billing",
        json!({
            "role_type": "jwt",
            "user_claim": "sub",
            "bound_audiences": ["vaultgate"],
            "token_policies": ["vaultgate-test-broad"],
            "token_no_default_policy": true,
            "token_ttl": "1h",
        }),
    )
    .await;

    let pki = Pki::new(&["acme/billing"]);
    let files = tempfile::tempdir().unwrap();
    let jwt_file = files.path().join("billing.jwt");
    std::fs::write(&jwt_file, signer.jwt("billing-a")).unwrap();
    let extra = format!(
        "\n[[service]]\nname = \"acme/billing\"\nauth = \"jwt\"\nrole = \"billing\"\njwt_file = \"{}\"\n",
        jwt_file.display()
    );
    let gate = Gate::builder(&bao, &pki).extra(&extra).start().await;
    let client = pki.client_for("acme/billing");
    let url = format!("{}/v1/secret/data/acme/billing/db", gate.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    let display = |token: String| {
        let bao = &bao;
        async move {
            let (_, body) = bao.lookup_token(&token).await;
            body["data"]["display_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    assert!(display(gate.token("acme/billing"))
        .await
        .contains("billing-a"));

    // The platform rotates the JWT file; the next login (forced here by revoking the token)
    // reads the new one.
    std::fs::write(&jwt_file, signer.jwt("billing-b")).unwrap();
    gate.revoke_token(&bao, "acme/billing").await;
    // Past the cache: the point is the read that makes the proxy log in again.
    let fresh_read = client.get(&url).header("cache-control", "no-cache");
    assert_eq!(fresh_read.send().await.unwrap().status(), 200);
    assert!(display(gate.token("acme/billing"))
        .await
        .contains("billing-b"));
    gate.stop().await;
}
