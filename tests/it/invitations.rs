//! Joining an org by invitation (finding 6 of the hardening review: `addMember` added any
//! registered account without consent and revealed its name and id).

use serde_json::{Value, json};

use crate::support::test_app::PASSWORD;
use crate::support::{TestApp, error_code};

const INVITE: &str = "mutation($o: ID!, $i: InviteMemberInput!) { inviteMember(orgId: $o, input: $i) { token invitation { id email role expiresAt } } }";
const ACCEPT: &str =
    "mutation($t: String!) { acceptInvitation(token: $t) { role org { id name } } }";
const SIGNUP: &str = "mutation($i: SignupWithInvitationInput!) { signupWithInvitation(input: $i) { accessToken user { id email memberships { role } } } }";
const MY_ORGS: &str = "{ me { memberships { org { name } } } }";

/// The answer to an invitation with what differs per call (ids, tokens, times) removed.
fn shape(answer: &Value) -> Value {
    let invitation = &answer["inviteMember"]["invitation"];
    json!({"role": invitation["role"], "fields": answer["inviteMember"].as_object().unwrap().keys().collect::<Vec<_>>()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inviting_an_existing_account_neither_adds_it_nor_reveals_it() {
    let app = TestApp::new().await;
    let ana = app.signup("Acme", "ana@example.com").await;
    let squatter = app.signup("Squat", "eve@example.com").await;
    let existing = app
        .gql_ok(
            Some(&squatter.token),
            INVITE,
            json!({"o": squatter.org_id, "i": {"email": "ana@example.com", "role": "ADMIN"}}),
        )
        .await;
    let unknown = app
        .gql_ok(
            Some(&squatter.token),
            INVITE,
            json!({"o": squatter.org_id, "i": {"email": "nobody@example.com", "role": "ADMIN"}}),
        )
        .await;
    assert_eq!(shape(&existing), shape(&unknown));
    assert!(!existing.to_string().contains(&ana.user_id), "{existing}");
    // Ana is in no new org until she accepts.
    let mine = app.gql_ok(Some(&ana.token), MY_ORGS, json!({})).await;
    assert_eq!(
        mine["me"]["memberships"].as_array().unwrap().len(),
        1,
        "{mine}"
    );
    // The mail waits in the outbox, its link sealed.
    let token = existing["inviteMember"]["token"].as_str().unwrap();
    assert_eq!(
        app.count("SELECT count(*) AS n FROM mail_outbox WHERE to_email = 'ana@example.com'")
            .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM mail_outbox WHERE position('{token}'::bytea in link_enc) > 0"
        ))
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_works_once_and_only_for_the_invited_email() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let bob = app.signup("Bob's", "bob@example.com").await;
    let carl = app.signup("Carl's", "carl@example.com").await;
    let token = app.invite(&admin, "bob@example.com", "AGENT").await;

    let r = app
        .graphql(Some(&carl.token), ACCEPT, json!({"t": token}))
        .await;
    assert_eq!(
        error_code(&r),
        "NOT_FOUND",
        "someone else's invitation: {r}"
    );
    let r = app.graphql(None, ACCEPT, json!({"t": token})).await;
    assert_eq!(error_code(&r), "UNAUTHENTICATED", "{r}");
    let r = app
        .graphql(Some(&bob.token), ACCEPT, json!({"t": format!("{token}x")}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");

    let r = app
        .gql_ok(Some(&bob.token), ACCEPT, json!({"t": token}))
        .await;
    assert_eq!(r["acceptInvitation"]["role"], "AGENT");
    assert_eq!(r["acceptInvitation"]["org"]["id"], admin.org_id.as_str());
    let r = app
        .graphql(Some(&bob.token), ACCEPT, json!({"t": token}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "a used link: {r}");
    let r = app
        .graphql(
            None,
            SIGNUP,
            json!({"i": {"token": token, "name": "Bob", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "a used link: {r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_person_creates_their_account_through_the_link() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let token = app.invite(&admin, "Dora@Example.com", "ADMIN").await;
    let r = app
        .gql_ok(
            None,
            SIGNUP,
            json!({"i": {"token": token, "name": "Dora", "password": PASSWORD}}),
        )
        .await;
    let user = &r["signupWithInvitation"]["user"];
    assert_eq!(user["email"], "dora@example.com");
    assert_eq!(user["memberships"][0]["role"], "ADMIN");
    // An email with an account is told to sign in instead.
    let token = app.invite(&admin, "zed@example.com", "AGENT").await;
    app.signup("Zed's", "zed@example.com").await;
    let r = app
        .graphql(
            None,
            SIGNUP,
            json!({"i": {"token": token, "name": "Zed", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(error_code(&r), "BAD_USER_INPUT", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_and_expired_invitations_are_dead_links() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let bob = app.signup("Bob's", "bob@example.com").await;
    let revoked = app.invite(&admin, "bob@example.com", "AGENT").await;
    let listed = app
        .gql_ok(
            Some(&admin.token),
            "query($o: ID!) { org(id: $o) { invitations { id email } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    let id = listed["org"]["invitations"][0]["id"].clone();
    app.gql_ok(
        Some(&admin.token),
        "mutation($o: ID!, $i: ID!) { revokeInvitation(orgId: $o, id: $i) }",
        json!({"o": admin.org_id, "i": id}),
    )
    .await;
    let r = app
        .graphql(Some(&bob.token), ACCEPT, json!({"t": revoked}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");

    let expired = app.invite(&admin, "bob@example.com", "AGENT").await;
    let n = app
        .count("WITH e AS (UPDATE invitations SET expires_at = now() - interval '1 second' WHERE revoked_at IS NULL RETURNING 1) SELECT count(*) AS n FROM e")
        .await;
    assert_eq!(n, 1);
    let r = app
        .graphql(Some(&bob.token), ACCEPT, json!({"t": expired}))
        .await;
    assert_eq!(error_code(&r), "NOT_FOUND", "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_invite_and_see_invitations() {
    let app = TestApp::new().await;
    let admin = app.signup("Acme", "ana@example.com").await;
    let agent = app.add_member(&admin, "bob@example.com", "AGENT").await;
    let other = app.signup("Globex", "gil@example.com").await;
    for caller in [&agent, &other] {
        let r = app
            .graphql(
                Some(&caller.token),
                INVITE,
                json!({"o": admin.org_id, "i": {"email": "x@example.com", "role": "ADMIN"}}),
            )
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
    }
    let r = app
        .graphql(
            Some(&agent.token),
            "query($o: ID!) { org(id: $o) { invitations { email } } }",
            json!({"o": admin.org_id}),
        )
        .await;
    assert_eq!(error_code(&r), "FORBIDDEN", "{r}");
}

/// Reads after a mutation see the memberships it made, even when an earlier field of the
/// same document already read (a mutation document's reads do not share a connection
/// scoped before the change).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_acceptance_in_one_document_reads_the_org_it_joined() {
    let app = TestApp::new().await;
    let ana = app.signup("Acme", "ana@example.com").await;
    let cleo = app.signup("Cleo's", "cleo@example.com").await;
    let bob = app.signup("Bob's", "bob@example.com").await;
    let first = app.invite(&ana, "bob@example.com", "AGENT").await;
    let second = app.invite(&cleo, "bob@example.com", "ADMIN").await;
    let r = app
        .gql_ok(
            Some(&bob.token),
            "mutation($a: String!, $b: String!) {
               a: acceptInvitation(token: $a) { role org { name } }
               b: acceptInvitation(token: $b) { role org { name } } }",
            json!({"a": first, "b": second}),
        )
        .await;
    assert_eq!(r["a"]["org"]["name"], "Acme", "{r}");
    assert_eq!(r["b"]["org"]["name"], "Cleo's", "{r}");
    assert_eq!(r["b"]["role"], "ADMIN", "{r}");
}
