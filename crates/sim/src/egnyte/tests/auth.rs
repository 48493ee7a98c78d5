//! Bearer tokens and the OAuth grants.

use super::*;
use serde_json::json;

#[tokio::test]
async fn bad_or_missing_tokens_are_401_or_developer_inactive() {
    let h = start(quiet()).await;
    let r = h.get_as("nope", "/pubapi/v1/events?id=0").await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"errorMessage": "Invalid or missing access token"})
    );
    let r = h.bare("/pubapi/v2/events/cursor").await;
    assert_eq!(r.status(), 401);
    h.sim.set_inactive_on_bad_token(true);
    let r = h.get_as("nope", "/pubapi/v1/events/cursor").await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-mashery-error-code"],
        "ERR_403_DEVELOPER_INACTIVE"
    );
    assert_eq!(r.text().await.unwrap(), "<h1>Developer Inactive</h1>");
    assert!(h.sim.revoke_token("test-token"));
    assert_eq!(h.get("/pubapi/v1/events/cursor").await.status(), 403);
}

#[tokio::test]
async fn password_grant_issues_non_expiring_tokens_by_default() {
    let h = start(quiet()).await;
    let ok = [
        ("grant_type", "password"),
        ("client_id", "partner-sync"),
        ("client_secret", "partner-secret"),
        ("username", "bob"),
        ("password", "bob-password"),
    ];
    let r = h.token(&ok).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_i64()),
        (Some("bearer"), Some(-1))
    );
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    h.advance(400 * 24 * 3600);
    assert_eq!(
        h.get_as(token, "/pubapi/v1/events/cursor").await.status(),
        200
    );

    let mut wrong_password = ok;
    wrong_password[4].1 = "guess";
    let r = h.token(&wrong_password).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let mut wrong_secret = ok;
    wrong_secret[2].1 = "guess";
    let r = h.token(&wrong_secret).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let mut unknown = ok;
    unknown[0].1 = "client_credentials";
    assert_eq!(
        h.token(&unknown).await.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
}

#[tokio::test]
async fn expiring_tokens_expire_on_the_sim_clock_and_refresh() {
    let h = start(quiet()).await;
    h.sim.set_token_mode(TokenMode::Expiring {
        lifetime_secs: 3600,
    });
    let body: Value = h
        .token(&[
            ("grant_type", "password"),
            ("client_id", "tributary-app"),
            ("client_secret", "tributary-secret"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["expires_in"], 3600);
    let (access, refresh) = (
        body["access_token"].as_str().unwrap(),
        body["refresh_token"].as_str().unwrap(),
    );
    h.advance(3599);
    assert_eq!(
        h.get_as(access, "/pubapi/v1/events/cursor").await.status(),
        200
    );
    h.advance(1);
    assert_eq!(
        h.get_as(access, "/pubapi/v1/events/cursor").await.status(),
        401
    );
    let refreshed: Value = h
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "tributary-app"),
            ("client_secret", "tributary-secret"),
            ("refresh_token", refresh),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["expires_in"], 3600);
    assert_eq!(refreshed["refresh_token"].as_str(), Some(refresh));
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(
        h.get_as(access, "/pubapi/v1/events/cursor").await.status(),
        200
    );
    // A refresh token is bound to its client.
    let r = h
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", "partner-sync"),
            ("client_secret", "partner-secret"),
            ("refresh_token", refresh),
        ])
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn authorization_codes_are_single_use_and_bound_to_the_redirect() {
    let h = start(quiet()).await;
    let r = h
        .post(
            "/_sim/egnyte/oauth/codes",
            json!({"client_id": "partner-sync", "redirect_uri": "https://app/cb", "user": 1003}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let code = r.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = |redirect: &'static str, code: String| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", "partner-sync".to_owned()),
            ("client_secret", "partner-secret".to_owned()),
            ("redirect_uri", redirect.to_owned()),
            ("code", code),
        ]
    };
    let send = |form: Vec<(&'static str, String)>| {
        h.http
            .post(format!("{}/puboauth/token", h.base))
            .form(&form)
            .send()
    };
    assert_eq!(
        send(form("https://other/cb", code.clone()))
            .await
            .unwrap()
            .status(),
        400
    );
    let body: Value = send(form("https://app/cb", code.clone()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let again = send(form("https://app/cb", code)).await.unwrap();
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // The token acts as user 1003 through partner-sync: suppress=user hides that user's API events.
    h.sim
        .create_folder("/Shared/x", &ActorSpec::api(1003, "partner-sync"))
        .unwrap();
    h.sim
        .create_folder("/Shared/y", &ActorSpec::api(1001, "partner-sync"))
        .unwrap();
    let page: Value = h
        .get_as(&token, "/pubapi/v1/events?id=0&suppress=user")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["latest_id"], 2);
    assert_eq!(page["count"], 1);
    // Codes expire after 10 minutes.
    let code = h
        .sim
        .mint_code("partner-sync", "https://app/cb", 1003)
        .unwrap();
    h.advance(600);
    assert_eq!(
        send(form("https://app/cb", code)).await.unwrap().status(),
        400
    );
    assert!(matches!(
        h.sim.mint_code("nobody", "x", 1003),
        Err(SimError::UnknownClient(_))
    ));
}

#[tokio::test]
async fn the_browser_step_redirects_with_a_code_or_a_token() {
    let h = start(quiet()).await;
    let url = format!(
        "{}/puboauth/token?client_id=tributary-app&redirect_uri=https://app/cb&response_type=code&state=a%20b",
        h.base
    );
    let r = h.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let rest = location.strip_prefix("https://app/cb?code=").unwrap();
    let (code, state) = rest.split_once('&').unwrap();
    assert_eq!(state, "state=a%20b");
    let r = h
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", "tributary-app"),
            ("client_secret", "tributary-secret"),
            ("redirect_uri", "https://app/cb"),
            ("code", code),
        ])
        .await;
    assert_eq!(r.status(), 200);
    let url = format!(
        "{}/puboauth/token?client_id=tributary-app&redirect_uri=https://app/cb&response_type=token",
        h.base
    );
    let r = h.http.get(url).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let token = location
        .strip_prefix("https://app/cb#access_token=")
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    assert_eq!(
        h.get_as(token, "/pubapi/v1/events/cursor").await.status(),
        200
    );
}

#[tokio::test]
async fn the_token_endpoint_answers_409_over_its_hourly_limit() {
    let h = start(EgnyteSimConfig {
        token_requests_per_hour: Some(2),
        ..EgnyteSimConfig::default()
    })
    .await;
    let form = [
        ("grant_type", "password"),
        ("client_id", "tributary-app"),
        ("client_secret", "tributary-secret"),
        ("username", "alice"),
        ("password", "alice-password"),
    ];
    assert_eq!(h.token(&form).await.status(), 200);
    assert_eq!(h.token(&form).await.status(), 200);
    let r = h.token(&form).await;
    assert_eq!(r.status(), 409);
    assert_eq!(r.headers()["retry-after"], "2690");
    h.advance(2690);
    assert_eq!(h.token(&form).await.status(), 200);
}

#[tokio::test]
async fn with_rotation_each_refresh_answers_a_new_refresh_token_and_voids_the_old() {
    let h = start(quiet()).await;
    h.sim.set_token_mode(TokenMode::Expiring {
        lifetime_secs: 3600,
    });
    h.sim.set_rotate_refresh_tokens(true);
    let refresh = |token: String| {
        let h = &h;
        async move {
            h.token(&[
                ("grant_type", "refresh_token"),
                ("client_id", "tributary-app"),
                ("client_secret", "tributary-secret"),
                ("refresh_token", token.as_str()),
            ])
            .await
        }
    };
    let body: Value = h
        .token(&[
            ("grant_type", "password"),
            ("client_id", "tributary-app"),
            ("client_secret", "tributary-secret"),
            ("username", "alice"),
            ("password", "alice-password"),
        ])
        .await
        .json()
        .await
        .unwrap();
    let r1 = body["refresh_token"].as_str().unwrap().to_owned();
    let answer = refresh(r1.clone()).await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let r2 = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r2, r1);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        h.get_as(access, "/pubapi/v1/events/cursor").await.status(),
        200
    );
    let again = refresh(r1).await;
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert_eq!(refresh(r2).await.status(), 200);
}
