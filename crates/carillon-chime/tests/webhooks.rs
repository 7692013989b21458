//! Incoming webhooks: the Carillon admin operations (CreateWebhook, ListWebhooks,
//! RegenerateWebhookUrl, DeleteWebhook) and posts to a webhook's URL with each §3.3 answer,
//! on SQLite and (when `CARILLON_TEST_DATABASE_URL` is set) PostgreSQL. Spec: chime-zh.md
//! §1.18, §3.3.

use std::time::Duration;

use carillon_adminapi::CarillonOperation;
use carillon_chime::webhooks::{
    CreateWebhook, CreateWebhookInput, DeleteWebhook, ListWebhooks, ListWebhooksInput,
    RegenerateWebhookUrl, WebhookInput,
};
use carillon_chime::ChimeConfig;
use carillon_core::{ApiError, RequestContext};
use carillon_store::chime::chat::RoomMembershipRecord;
use support::Env;

mod support;

const PUBLIC_URL: &str = "https://chime.test";

async fn envs() -> Vec<Env> {
    support::envs_with(|| ChimeConfig {
        public_url: PUBLIC_URL.to_string(),
        ..ChimeConfig::default()
    })
    .await
}

/// A tenant with a Chime account and a room holding user `alice`.
struct Room {
    ctx: RequestContext,
    account: String,
    room: String,
    alice: String,
}

impl Env {
    async fn user(&self, room: &Room, email: &str) -> String {
        let user_id = self.member(&room.ctx, &room.account, email).await;
        self.test
            .exec(
                "INSERT INTO chime_room_memberships (room_id, member_id, account_id, \
                 member_type, role, updated_at) VALUES ($1, $2, $3, 'User', 'Member', 0)",
                &[&room.room, &user_id, &room.ctx.account_id],
            )
            .await;
        user_id
    }

    async fn room(&self) -> Room {
        let ctx = self.tenant().await;
        let account = self.account(&ctx, "Hooks").await;
        let room = self
            .create_room(&ctx, &account, "Alerts")
            .await
            .room_id
            .unwrap();
        let mut out = Room {
            ctx,
            account,
            room,
            alice: String::new(),
        };
        let email = format!("alice.{}@hooks.example.com", out.room);
        out.alice = self.user(&out, &email).await;
        out
    }

    async fn create(&self, room: &Room, name: &str) -> Result<(String, String), ApiError> {
        CreateWebhook(self.chime.clone())
            .call(
                &room.ctx,
                CreateWebhookInput {
                    account_id: room.account.clone(),
                    room_id: room.room.clone(),
                    name: name.to_string(),
                },
            )
            .await
            .map(|o| (o.webhook.webhook_id, o.webhook.url.unwrap()))
    }

    /// The room's memberships as stored.
    async fn members(&self, room: &Room) -> Vec<RoomMembershipRecord> {
        self.test
            .store
            .list_room_memberships(&room.room, "", None)
            .await
            .unwrap()
    }

    /// Posts `body` to `url` as a client would.
    async fn post(&self, url: &str, body: &str) -> Result<carillon_chime::hub::MessageView, u16> {
        let rest = url
            .strip_prefix(&format!("{PUBLIC_URL}/incomingwebhooks/"))
            .unwrap();
        let (url_id, token) = match rest.split_once("?token=") {
            Some((id, token)) => (id, Some(token)),
            None => (rest, None),
        };
        carillon_chime::webhooks::post_to_webhook(&self.chime, url_id, token, body.as_bytes())
            .await
            .map_err(|e| e.status())
    }
}

fn content(text: &str) -> String {
    serde_json::json!({ "Content": text }).to_string()
}

#[tokio::test]
async fn webhook_operations_manage_room_members() {
    for env in envs().await {
        let room = env.room().await;
        let (id, url) = env.create(&room, "CI").await.unwrap();
        assert!(url.starts_with(&format!("{PUBLIC_URL}/incomingwebhooks/")));
        assert!(url.contains("?token="));
        let members = env.members(&room).await;
        let member = members.iter().find(|m| m.member_id == id).unwrap();
        assert_eq!(member.member_type, "Webhook", "{}", env.test.label);

        // Bad input and another tenant's room.
        let blank = env.create(&room, "   ").await.unwrap_err();
        assert!(blank.message.contains("Name"));
        let other = env.room().await;
        let foreign = CreateWebhook(env.chime.clone())
            .call(
                &other.ctx,
                CreateWebhookInput {
                    account_id: other.account.clone(),
                    room_id: room.room.clone(),
                    name: "x".to_string(),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(foreign.code, "NotFoundException");

        // Ten per room, then ResourceLimitExceededException.
        for n in 1..10 {
            env.create(&room, &format!("hook {n}")).await.unwrap();
        }
        let eleventh = env.create(&room, "one too many").await.unwrap_err();
        assert_eq!(eleventh.code, "ResourceLimitExceededException");

        // ListWebhooks pages through them without URLs; another tenant cannot list.
        let list = ListWebhooks(env.chime.clone());
        let mut seen = Vec::new();
        let mut next = None;
        loop {
            let page = list
                .call(
                    &room.ctx,
                    ListWebhooksInput {
                        account_id: room.account.clone(),
                        room_id: room.room.clone(),
                        max_results: Some(3),
                        next_token: next,
                    },
                )
                .await
                .unwrap();
            assert!(page.webhooks.iter().all(|w| w.url.is_none()));
            seen.extend(page.webhooks.into_iter().map(|w| w.name));
            next = page.next_token;
            if next.is_none() {
                break;
            }
        }
        assert_eq!(seen.len(), 10);
        let foreign = list
            .call(
                &other.ctx,
                ListWebhooksInput {
                    account_id: room.account.clone(),
                    room_id: room.room.clone(),
                    max_results: None,
                    next_token: None,
                },
            )
            .await
            .unwrap_err();
        assert_eq!(foreign.code, "NotFoundException");

        // Deleting removes the member; deleting again is NotFoundException.
        let input = || WebhookInput {
            account_id: room.account.clone(),
            room_id: room.room.clone(),
            webhook_id: id.clone(),
        };
        DeleteWebhook(env.chime.clone())
            .call(&room.ctx, input())
            .await
            .unwrap();
        let members = env.members(&room).await;
        assert!(members.iter().all(|m| m.member_id != id));
        let again = DeleteWebhook(env.chime.clone())
            .call(&room.ctx, input())
            .await
            .unwrap_err();
        assert_eq!(again.code, "NotFoundException");
        let regenerate = RegenerateWebhookUrl(env.chime.clone())
            .call(&room.ctx, input())
            .await
            .unwrap_err();
        assert_eq!(regenerate.code, "NotFoundException");
        assert_eq!(env.post(&url, &content("gone")).await.unwrap_err(), 404);
    }
}

#[tokio::test]
async fn webhook_posts_answer_each_limit_with_its_code() {
    for env in envs().await {
        let room = env.room().await;
        let (id, url) = env.create(&room, "CI").await.unwrap();

        // A post shows as "<name> (Webhook)" and resolves mentions.
        let text = format!("Build **passed** @alice.{}", room.room);
        let message = env.post(&url, &content(&text)).await.unwrap();
        assert_eq!(message.sender_name, "CI (Webhook)", "{}", env.test.label);
        assert_eq!(message.sender_type, "Webhook");
        assert_eq!(message.sender_id, id);
        assert_eq!(message.mentions, vec![room.alice.clone()]);

        // More than one request per second: 429; a second later it is accepted again.
        assert_eq!(env.post(&url, &content("again")).await.unwrap_err(), 429);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        env.post(&url, &content("a second later")).await.unwrap();

        // Over 4 KB: 413. Not {"Content": text}: 400.
        assert_eq!(
            env.post(&url, &content(&"x".repeat(4097)))
                .await
                .unwrap_err(),
            413
        );
        assert_eq!(env.post(&url, "not json").await.unwrap_err(), 400);
        assert_eq!(
            env.post(&url, r#"{"Content":"x","Extra":1}"#)
                .await
                .unwrap_err(),
            400
        );
        assert_eq!(
            env.post(&url, r#"{"Content":"  "}"#).await.unwrap_err(),
            400
        );

        // Invalid URLs: 403; a known URL with a wrong token: 403.
        let (base, token) = url.split_once("?token=").unwrap();
        assert_eq!(env.post(base, &content("x")).await.unwrap_err(), 403);
        assert_eq!(
            env.post(&format!("{base}?token=wrong{token}"), &content("x"))
                .await
                .unwrap_err(),
            403
        );
        assert_eq!(
            env.post(
                &format!("{PUBLIC_URL}/incomingwebhooks/not-a-uuid?token={token}"),
                &content("x")
            )
            .await
            .unwrap_err(),
            403
        );

        // @All/@Present: fine with 50 users, 400 with 51.
        for n in 1..50 {
            env.user(&room, &format!("user{n}@hooks.example.com")).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let everyone = env
            .post(&url, &content("@All deploy at noon"))
            .await
            .unwrap();
        assert_eq!(everyone.mentions.len(), 50);
        env.user(&room, "user50@hooks.example.com").await;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            env.post(&url, &content("@All deploy")).await.unwrap_err(),
            400
        );
        assert_eq!(
            env.post(&url, &content("@Present deploy"))
                .await
                .unwrap_err(),
            400
        );
        env.post(&url, &content("no callout")).await.unwrap();

        // Regenerating: the old URL is 404, the new one works.
        let regenerated = RegenerateWebhookUrl(env.chime.clone())
            .call(
                &room.ctx,
                WebhookInput {
                    account_id: room.account.clone(),
                    room_id: room.room.clone(),
                    webhook_id: id.clone(),
                },
            )
            .await
            .unwrap();
        let new_url = regenerated.webhook.url.unwrap();
        assert_ne!(new_url, url);
        assert_eq!(env.post(&url, &content("old")).await.unwrap_err(), 404);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        env.post(&new_url, &content("new")).await.unwrap();
    }
}
