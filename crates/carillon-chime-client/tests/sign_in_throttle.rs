//! `POST /chat/v1/sign-in` through the real router on a loopback port: once an email has
//! failed 10 times within 15 minutes, the next attempt is answered 429 with
//! `ThrottledClientException`. On SQLite, and on PostgreSQL when `CARILLON_TEST_DATABASE_URL`
//! is set. Spec: chime-zh.md §1.10.

use carillon_chime::sessions::MAX_FAILED_SIGN_INS;
use carillon_chime::Chime;
use carillon_store::testing::test_stores;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `POST /chat/v1/sign-in` with `email` and a wrong password over HTTP/1.1; the status and
/// the JSON body.
async fn sign_in(addr: std::net::SocketAddr, email: &str) -> (u16, Value) {
    let body = serde_json::json!({ "Email": email, "Password": "not the password" }).to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /chat/v1/sign-in HTTP/1.1\r\nHost: chat.test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let (_, json) = response.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(json).unwrap())
}

#[tokio::test]
async fn the_eleventh_failed_sign_in_is_answered_429() {
    for t in test_stores().await {
        let chime = Chime::new(t.store.clone()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = carillon_chime_client::router(chime);
        tokio::spawn(async move { axum::serve(listener, app).await });

        for _ in 0..MAX_FAILED_SIGN_INS {
            let (status, _) = sign_in(addr, "someone@example.com").await;
            assert_eq!(status, 401);
        }
        let (status, body) = sign_in(addr, "someone@example.com").await;
        assert_eq!(status, 429);
        assert_eq!(body["Code"], "ThrottledClientException");
    }
}
