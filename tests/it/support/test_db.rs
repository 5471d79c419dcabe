//! One fresh database per test, cloned from a template migrated once per migration set.
//!
//! The template's name carries a hash of the migrations, so a changed migration builds a
//! new one; it is built under a temporary name and renamed when complete, under an
//! advisory lock, so parallel test processes agree on it. Test databases are dropped when
//! the test ends; leftovers of killed runs older than an hour are swept.

use std::hash::{Hash, Hasher};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use tokio::sync::OnceCell;

/// The server the tests use (`TEST_DATABASE_URL`, default local trust auth).
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn template_name() -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let path = entry.unwrap().path();
        let mut files: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        path.file_name().hash(&mut hasher);
        for file in files {
            std::fs::read(file).unwrap().hash(&mut hasher);
        }
    }
    format!("dc_template_{:016x}", hasher.finish())
}

async fn maintenance() -> AsyncPgConnection {
    AsyncPgConnection::establish(&format!("{}/postgres", server_url()))
        .await
        .expect("connect to PostgreSQL")
}

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    datname: String,
}

async fn ensure_template() -> String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = template_name();
            let mut conn = maintenance().await;
            conn.batch_execute("SELECT pg_advisory_lock(84170001)")
                .await
                .unwrap();
            let existing: Vec<Name> =
                diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'dc\\_%'")
                    .load(&mut conn)
                    .await
                    .unwrap();
            sweep_leftovers(&mut conn, &existing).await;
            if !existing.iter().any(|d| d.datname == name) {
                let building = format!("{name}_building");
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                    .await
                    .unwrap();
                conn.batch_execute(&format!("CREATE DATABASE {building}"))
                    .await
                    .unwrap();
                delightchat::db::run_migrations(&format!("{}/{building}", server_url()))
                    .await
                    .unwrap();
                conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                    .await
                    .unwrap();
            }
            conn.batch_execute("SELECT pg_advisory_unlock(84170001)")
                .await
                .unwrap();
            name
        })
        .await
        .clone()
}

/// Drops test databases of runs that were killed (their names carry their creation time).
async fn sweep_leftovers(conn: &mut AsyncPgConnection, existing: &[Name]) {
    let now = unix_now();
    for db in existing {
        let created = db
            .datname
            .strip_prefix("dc_test_")
            .and_then(|rest| rest.split('_').next()?.parse::<u64>().ok());
        if created.is_some_and(|t| now.saturating_sub(t) > 3600) {
            let _ = conn
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    db.datname
                ))
                .await;
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A database that lives as long as the value.
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// A fresh, migrated database.
    pub async fn new() -> Self {
        let template = ensure_template().await;
        let name = format!("dc_test_{}_{}", unix_now(), uuid::Uuid::new_v4().simple());
        let mut conn = maintenance().await;
        conn.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .unwrap();
        Self { name }
    }

    /// Its connection URL.
    pub fn url(&self) -> String {
        format!("{}/{}", server_url(), self.name)
    }

    /// A direct connection (outside the app's pool).
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url()).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context guarantees: use a private runtime on a thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut conn = maintenance().await;
                let _ = conn
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
