//! What this machine can do at best, measured in the same run as the figures they frame:
//! single-row durable INSERTs, a trivial query on a pool, a trivial HTTP route.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::Mutex;

use super::stats::{Measured, closed_loop};
use diesel_async::pooled_connection::AsyncDieselConnectionManager;

/// Single-row INSERTs, each its own transaction, from `clients` connections. With one
/// client every row pays a full commit (one WAL flush); with many, PostgreSQL already
/// shares flushes between concurrent commits.
pub async fn single_row_inserts(
    url: &str,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let mut setup = AsyncPgConnection::establish(url).await?;
    setup.batch_execute("CREATE TABLE IF NOT EXISTS bench_probe (id bigserial PRIMARY KEY, body bytea NOT NULL)").await?;
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(Arc::new(Mutex::new(
            AsyncPgConnection::establish(url).await?,
        )));
    }
    let conns = Arc::new(conns);
    let body = vec![b'x'; 400];
    Ok(closed_loop(clients, duration, move |n| {
        let conn = conns[(n as usize) % conns.len()].clone();
        let body = body.clone();
        async move {
            let mut conn = conn.lock().await;
            diesel::sql_query("INSERT INTO bench_probe (body) VALUES ($1)")
                .bind::<diesel::sql_types::Bytea, _>(body)
                .execute(&mut *conn)
                .await
                .is_ok()
        }
    })
    .await)
}

/// `SELECT 1` through a pool of `pool_size` connections from `clients` tasks.
pub async fn trivial_queries(
    url: &str,
    pool_size: usize,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Measured> {
    // A bare pool, as the owner: the ceiling is PostgreSQL's, without the server's
    // session setup or row-level security scoping.
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url);
    let pool = diesel_async::pooled_connection::deadpool::Pool::builder(manager)
        .max_size(pool_size)
        .build()?;
    Ok(closed_loop(clients, duration, move |_| {
        let pool = pool.clone();
        async move {
            match pool.get().await {
                Ok(mut conn) => conn.batch_execute("SELECT 1").await.is_ok(),
                Err(_) => false,
            }
        }
    })
    .await)
}

/// `GET /healthz` of the server from `clients` connections.
pub async fn trivial_http(base_url: &str, clients: usize, duration: Duration) -> Measured {
    let client = reqwest::Client::new();
    let url = format!("{base_url}/healthz");
    closed_loop(clients, duration, move |_| {
        let request = client.get(&url);
        async move { request.send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await
}
