//! Basic and Bearer authentication, and `POST /oauth2/token`.

use super::*;
use serde_json::json;

const CONTENTS: &str = "/api/core/v3/contents";

impl Harness {
    async fn with_bearer(&self, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(CONTENTS))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(strip(&r.text().await.unwrap())).unwrap(),
        )
    }

    async fn token(&self, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(self.url("/oauth2/token"))
            .basic_auth(client.0, Some(client.1))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert!(!text.starts_with(PREFIX), "no prefix on OAuth answers");
        (status, serde_json::from_str(&text).unwrap())
    }
}

const CLIENT: (&str, &str) = ("tributary-addon", "tributary-addon-secret");

#[tokio::test]
async fn basic_credentials_are_checked() {
    let h = start(plain()).await;
    h.json(CONTENTS).await;
    let wrong = h
        .http
        .get(h.url(CONTENTS))
        .basic_auth(USER, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.headers()["www-authenticate"], "Basic realm=\"Jive\"");
    let body: Value = serde_json::from_str(strip(&wrong.text().await.unwrap())).unwrap();
    assert_eq!(body["error"]["status"], 401);
    assert!(body["error"]["message"].is_string());
    let none = h.bare(CONTENTS).await;
    assert_eq!(none.status(), 401);
    let garbage = h
        .http
        .get(h.url(CONTENTS))
        .header("authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
}

#[tokio::test]
async fn bearer_tokens_work_until_they_expire() {
    let h = start(plain()).await;
    h.sim
        .add_token("short", USER, Some(std::time::Duration::from_secs(60)));
    assert_eq!(h.with_bearer("short").await.0, 200);
    assert_eq!(h.with_bearer("unknown").await.0, 401);
    h.advance_ms(60_000);
    let (status, body) = h.with_bearer("short").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["message"], "The access token has expired");
    let r = h
        .post("/_sim/jive/tokens", json!({"token": "forever"}))
        .await;
    assert_eq!(r.status(), 201);
    h.advance_ms(10_000_000);
    assert_eq!(h.with_bearer("forever").await.0, 200);
}

#[tokio::test]
async fn password_grant_then_refresh_after_expiry() {
    let h = start(plain()).await;
    let (status, t) = h
        .token(
            CLIENT,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 48 * 3600);
    let access = t["access_token"].as_str().unwrap().to_owned();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(h.with_bearer(&access).await.0, 200);
    h.clock.advance(std::time::Duration::from_secs(48 * 3600));
    assert_eq!(h.with_bearer(&access).await.0, 401);
    h.sim.set_token_lifetime(std::time::Duration::from_secs(30));
    let (status, t2) = h
        .token(
            CLIENT,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(t2["expires_in"], 30);
    assert_eq!(t2["refresh_token"], refresh.as_str());
    let fresh = t2["access_token"].as_str().unwrap();
    assert_ne!(fresh, access);
    assert_eq!(h.with_bearer(fresh).await.0, 200);
    h.advance_ms(30_000);
    assert_eq!(h.with_bearer(fresh).await.0, 401);
}

#[tokio::test]
async fn authorization_codes_are_single_use() {
    let h = start(plain()).await;
    let code = h.sim.mint_code(USER).unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
    ];
    let (status, t) = h.token(CLIENT, &form).await;
    assert_eq!(status, 200);
    assert_eq!(
        h.with_bearer(t["access_token"].as_str().unwrap()).await.0,
        200
    );
    let (status, e) = h.token(CLIENT, &form).await;
    assert_eq!((status, &e["error"]), (400, &json!("invalid_grant")));
    assert!(h.sim.mint_code("mallory").is_err());
}

#[tokio::test]
async fn token_errors_follow_rfc_6749() {
    let h = start(plain()).await;
    let password = [
        ("grant_type", "password"),
        ("username", USER),
        ("password", "wrong"),
    ];
    let (status, e) = h.token(CLIENT, &password).await;
    assert_eq!((status, &e["error"]), (400, &json!("invalid_grant")));
    assert!(e["error_description"].is_string());
    let (status, e) = h.token(("tributary-addon", "bad"), &password).await;
    assert_eq!((status, &e["error"]), (401, &json!("invalid_client")));
    let (status, e) = h
        .token(
            CLIENT,
            &[("grant_type", "refresh_token"), ("refresh_token", "nope")],
        )
        .await;
    assert_eq!((status, &e["error"]), (400, &json!("invalid_grant")));
    assert_eq!(e["error_description"], "Bad refresh token");
    let (status, e) = h
        .token(CLIENT, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, &e["error"]),
        (400, &json!("unsupported_grant_type"))
    );
}

#[tokio::test]
async fn with_rotation_each_refresh_answers_a_new_refresh_token_and_voids_the_old() {
    let h = start(plain()).await;
    h.sim.set_rotate_refresh_tokens(true);
    let (_, t) = h
        .token(
            CLIENT,
            &[
                ("grant_type", "password"),
                ("username", USER),
                ("password", PASSWORD),
            ],
        )
        .await;
    let r1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (status, t2) = h
        .token(
            CLIENT,
            &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        )
        .await;
    assert_eq!(status, 200, "{t2}");
    let r2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    assert_eq!(
        h.with_bearer(t2["access_token"].as_str().unwrap()).await.0,
        200
    );
    let (status, e) = h
        .token(
            CLIENT,
            &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
        )
        .await;
    assert_eq!((status, &e["error"]), (400, &json!("invalid_grant")));
    let (status, _) = h
        .token(
            CLIENT,
            &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
        )
        .await;
    assert_eq!(status, 200);
}
