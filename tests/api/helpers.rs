//! The harness: starts the real server on port 0 against a fresh database (a temporary SQLite
//! file, or a PostgreSQL database cloned from a migrated template), bootstraps a workspace with
//! an admin, and speaks HTTP to it. `both_backends!` runs one test body on both databases.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use crm_api::config::Config;
use crm_api::startup::Application;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OnceCell};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Generates `<name>::sqlite` and `<name>::postgres` tests that run `async fn <name>(app:
/// TestApp)` on a fresh app. `configure = f` adjusts the [`Config`] first (`f: fn(&mut Config)`).
macro_rules! both_backends {
    ($name:ident) => {
        $crate::helpers::both_backends!(@tests $name, $crate::helpers::default_config);
    };
    ($name:ident, configure = $configure:ident) => {
        $crate::helpers::both_backends!(@tests $name, super::$configure);
    };
    (@tests $name:ident, $configure:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::helpers::run($crate::helpers::Backend::Sqlite, $configure, super::$name)
                    .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::helpers::run($crate::helpers::Backend::Postgres, $configure, super::$name)
                    .await;
            }
        }
    };
}
pub(crate) use both_backends;

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const PASSWORD: &str = "correct horse battery";
const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The configuration tests run with unless they say otherwise.
pub fn default_config(_: &mut Config) {}

/// Starts an app on `backend` and runs `test` against it; skips (or, under `CI=true`, fails)
/// when PostgreSQL is wanted and none is reachable.
pub async fn run<F, Fut>(backend: Backend, configure: fn(&mut Config), test: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(app) = spawn_app(backend, configure).await {
        test(app).await;
    }
}

/// A running server with a bootstrapped workspace, and an HTTP client for it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: reqwest::Client,
    /// The bootstrapped admin API key (every scope).
    pub api_key: String,
    pub workspace_id: String,
    /// The bootstrapped admin user.
    pub user_id: String,
    pub admin_email: String,
    pub admin_password: String,
    pub backend: Backend,
    pub database_url: String,
    server: JoinHandle<std::io::Result<()>>,
    _db: TestDb,
}

/// A user created through the API.
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
}

pub async fn spawn_app(backend: Backend, configure: fn(&mut Config)) -> Option<TestApp> {
    init_logging();
    let db = match backend {
        Backend::Sqlite => TestDb::sqlite(),
        Backend::Postgres => TestDb::postgres().await?,
    };
    let database_url = db.url().to_owned();
    let mut config = Config::for_tests(&database_url);
    configure(&mut config);
    let application = Application::build(config)
        .await
        .unwrap_or_else(|e| panic!("the application did not start on {backend:?}: {e:#}"));
    let address = format!("http://127.0.0.1:{}", application.port());
    let server = tokio::spawn(application.run_until_stopped());

    let admin_email = unique_email("admin");
    let boot = crm_api::admin::bootstrap(&database_url, "Acme", &admin_email, PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("bootstrap failed on {backend:?}: {e:#}"));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client");
    Some(TestApp {
        address,
        client,
        api_key: boot.api_key,
        workspace_id: boot.workspace_id.to_string(),
        user_id: boot.user_id.to_string(),
        admin_email,
        admin_password: PASSWORD.to_owned(),
        backend,
        database_url,
        server,
        _db: db,
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn init_logging() {
    static LOGGING: Once = Once::new();
    LOGGING.call_once(|| {
        if std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0") {
            let env = env_logger::Env::default().default_filter_or("info");
            let _ = env_logger::Builder::from_env(env).is_test(true).try_init();
        }
    });
}

pub fn unique_email(who: &str) -> String {
    format!("{who}-{}@example.test", Uuid::now_v7().simple())
}

// ---------------------------------------------------------------------------------------------
// Requests

#[derive(Clone)]
enum Credential {
    ApiKey(String),
    Bearer(String),
    Anonymous,
}

/// Sends requests to the app as one caller.
pub struct Caller<'a> {
    app: &'a TestApp,
    credential: Credential,
}

impl Caller<'_> {
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self.app.client.request(method, format!("{}{path}", self.app.address));
        match &self.credential {
            Credential::ApiKey(key) => builder.header("X-API-Key", key),
            Credential::Bearer(token) => builder.bearer_auth(token),
            Credential::Anonymous => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        send(self.request(Method::GET, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        send(self.request(Method::POST, path).json(body)).await
    }

    /// A POST with a fresh `Idempotency-Key`, for writes that require one.
    pub async fn post_keyed(&self, path: &str, body: &Value) -> Response {
        send(self.request(Method::POST, path).header("Idempotency-Key", uuid::Uuid::now_v7().to_string()).json(body))
            .await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        send(self.request(Method::PATCH, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        send(self.request(Method::DELETE, path)).await
    }

    /// Every item of a list endpoint, following `next_cursor` to the end.
    pub async fn list_all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let mut request = self.request(Method::GET, path);
            if let Some(cursor) = &cursor {
                request = request.query(&[("cursor", cursor)]);
            }
            let page = assert_json(send(request).await, 200).await;
            items.extend(page["data"].as_array().expect("a list has `data`").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
        panic!("{path}: more than 1000 pages, the cursor does not advance");
    }
}

/// Sends a request; a transport error fails the test with its cause.
pub async fn send(request: RequestBuilder) -> Response {
    match request.send().await {
        Ok(response) => response,
        Err(e) => panic!("request failed without an HTTP response: {e:?}"),
    }
}

impl TestApp {
    /// Requests as the bootstrapped admin API key.
    pub fn admin(&self) -> Caller<'_> {
        self.with_key(&self.api_key)
    }

    pub fn with_key(&self, key: &str) -> Caller<'_> {
        Caller { app: self, credential: Credential::ApiKey(key.to_owned()) }
    }

    pub fn with_token(&self, token: &str) -> Caller<'_> {
        Caller { app: self, credential: Credential::Bearer(token.to_owned()) }
    }

    pub fn anonymous(&self) -> Caller<'_> {
        Caller { app: self, credential: Credential::Anonymous }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.admin().request(method, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.admin().get(path).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.admin().post_json(path, body).await
    }

    pub async fn post_keyed(&self, path: &str, body: &Value) -> Response {
        self.admin().post_keyed(path, body).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Response {
        self.admin().patch_json(path, body).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.admin().delete(path).await
    }

    /// Creates an API key with `scopes` and returns the full key.
    pub async fn create_api_key(&self, scopes: &[&str]) -> String {
        let body = json!({"name": "test key", "scopes": scopes});
        let created = assert_json(self.post_json("/v1/api-keys", &body).await, 201).await;
        created["api_key"].as_str().expect("`api_key` in the created key").to_owned()
    }

    /// Creates a user with `role` through the API.
    pub async fn create_user(&self, role: &str) -> TestUser {
        let email = unique_email(role);
        let password = format!("{role} password 123");
        let body = json!({"email": email, "name": format!("A {role}"), "role": role, "password": password});
        let user = assert_json(self.post_json("/v1/users", &body).await, 201).await;
        let id = user["id"].as_str().expect("a user id").to_owned();
        TestUser { id, email, password }
    }

    /// Signs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = json!({"email": email, "password": password});
        let tokens = self.anonymous().post_json("/v1/auth/login", &body).await;
        let tokens = assert_json(tokens, 200).await;
        tokens["access_token"].as_str().expect("an access token").to_owned()
    }

    /// Creates a customer as the admin and returns it.
    pub async fn post_customer(&self, body: &Value) -> Value {
        assert_json(self.post_json("/v1/customers", body).await, 201).await
    }

    /// Bootstraps another workspace in the same database and returns its admin API key.
    pub async fn second_workspace(&self) -> String {
        let email = unique_email("other-admin");
        let boot = crm_api::admin::bootstrap(&self.database_url, "Other", &email, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("bootstrap of a second workspace failed: {e:#}"));
        boot.api_key
    }
}

// ---------------------------------------------------------------------------------------------
// Assertions

fn content_type(headers: &HeaderMap) -> String {
    header(headers, CONTENT_TYPE.as_str()).unwrap_or_default()
}

/// A header's value as text, if present.
pub fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Asserts the status and a JSON body, and returns the body.
pub async fn assert_json(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let url = response.url().path().to_owned();
    let content_type = content_type(response.headers());
    let text = response.text().await.expect("a response body");
    assert_eq!(actual, status, "{url}: expected {status}, got {actual}: {text}");
    assert!(
        content_type.starts_with("application/json"),
        "{url}: expected application/json, got {content_type:?}: {text}"
    );
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: body is not JSON ({e}): {text}"))
}

/// Asserts a status with an empty body (204).
pub async fn assert_no_content(response: Response) {
    let actual = response.status().as_u16();
    let url = response.url().path().to_owned();
    let text = response.text().await.expect("a response body");
    assert_eq!(actual, 204, "{url}: expected 204, got {actual}: {text}");
    assert!(text.is_empty(), "{url}: a 204 has no body, got {text}");
}

/// Asserts an RFC 9457 problem with `status` and `code`, and returns its body.
pub async fn assert_problem(response: Response, status: u16, code: &str) -> Value {
    let body = assert_any_problem(response).await;
    let text = body.to_string();
    assert_eq!(body["status"], status, "expected {status} {code}, got {text}");
    assert_eq!(body["code"], code, "expected {status} {code}, got {text}");
    body
}

/// Asserts some 4xx problem (status in the body equal to the HTTP status) and returns it.
pub async fn assert_any_problem(response: Response) -> Value {
    let actual = response.status().as_u16();
    let url = response.url().path().to_owned();
    let content_type = content_type(response.headers());
    let text = response.text().await.expect("a response body");
    assert!((400..500).contains(&actual), "{url}: expected a 4xx problem, got {actual}: {text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{url}: expected application/problem+json, got {actual} {content_type:?}: {text}"
    );
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: problem body is not JSON ({e}): {text}"));
    assert_eq!(body["status"], actual, "{url}: `status` differs from HTTP: {text}");
    for field in ["type", "title", "code"] {
        assert!(body[field].is_string(), "{url}: problem lacks `{field}`: {text}");
    }
    body
}

/// Whether a problem lists an error for `field` with `code`.
pub fn has_field_error(problem: &Value, field: &str, code: &str) -> bool {
    problem["errors"].as_array().is_some_and(|errors| errors.iter().any(|e| e["field"] == field && e["code"] == code))
}

/// Asserts a 422 `validation_failed` naming `field` with `code`.
pub async fn assert_field_error(response: Response, field: &str, code: &str) -> Value {
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert!(
        has_field_error(&problem, field, code),
        "expected an error {{field: {field}, code: {code}}}, got {problem}"
    );
    problem
}

/// The `id` of a record.
pub fn id_of(record: &Value) -> String {
    record["id"].as_str().unwrap_or_else(|| panic!("no id in {record}")).to_owned()
}

/// The `id`s of a list of records.
pub fn ids(items: &[Value]) -> BTreeSet<String> {
    items.iter().map(|item| item["id"].as_str().expect("an id").to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// Databases

/// A database that exists for one test and is removed afterwards (best effort).
enum TestDb {
    Sqlite { path: PathBuf, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDb {
    fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("crm-test-{}.db", Uuid::now_v7().simple()));
        let url = format!("sqlite://{}", path.display());
        TestDb::Sqlite { path, url }
    }

    async fn postgres() -> Option<TestDb> {
        let admin_url = postgres_url().await?;
        let name = create_test_database(&admin_url).await;
        let url = with_database(&admin_url, &name);
        Some(TestDb::Postgres { admin_url, name, url })
    }

    fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            TestDb::Postgres { admin_url, name, .. } => {
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                if let Err(e) = run_admin_sql_blocking(admin_url.clone(), sql) {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            }
        }
    }
}

/// Runs one admin statement on a thread of its own (`Drop` cannot await).
fn run_admin_sql_blocking(admin_url: String, sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut conn = AsyncPgConnection::establish(&admin_url).await.map_err(|e| e.to_string())?;
            conn.batch_execute(&sql).await.map_err(|e| e.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the drop thread panicked".into()))
}

/// The PostgreSQL server URL tests use: `TEST_DATABASE_URL`, else the local default when it
/// answers. `None` means skip; under `CI=true`, or when `TEST_DATABASE_URL` was set, an
/// unreachable server fails the test instead.
async fn postgres_url() -> Option<String> {
    static PROBE: OnceCell<Result<String, String>> = OnceCell::const_new();
    static SKIP_NOTICE: Once = Once::new();
    let probe = PROBE
        .get_or_init(|| async {
            let explicit = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty());
            let url = explicit.clone().unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
            let connect = AsyncPgConnection::establish(&url);
            let error = match tokio::time::timeout(Duration::from_secs(5), connect).await {
                Ok(Ok(_)) => return Ok(url),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 5 s".to_owned(),
            };
            let source = if explicit.is_some() { "TEST_DATABASE_URL" } else { "the default" };
            Err(format!("PostgreSQL at {url} ({source}) is not reachable: {error}"))
        })
        .await;
    match probe {
        Ok(url) => Some(url.clone()),
        Err(message) => {
            let required = std::env::var("CI").is_ok_and(|v| v == "true")
                || std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty());
            if required {
                panic!("{message}; the PostgreSQL tests cannot run (CI=true or TEST_DATABASE_URL set)");
            }
            SKIP_NOTICE.call_once(|| {
                // Straight to stderr: the test harness captures `eprintln!` of passing tests.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!! {message}\n!!! SKIPPING every PostgreSQL test. Set TEST_DATABASE_URL \
                     to run them; under CI=true this is a failure.\n"
                );
            });
            None
        }
    }
}

/// `url` with its database name replaced by `name` (query parameters are kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}

/// A fresh database cloned from the migrated template, which is built once per migration set.
async fn create_test_database(admin_url: &str) -> String {
    // CREATE DATABASE … TEMPLATE refuses while anyone else uses the template: one at a time.
    static CLONING: Mutex<()> = Mutex::const_new(());
    let _one_at_a_time = CLONING.lock().await;
    let template = template_name();
    let name = format!("crm_test_{}", Uuid::now_v7().simple());
    let mut conn = admin_connection(admin_url).await;
    for _ in 0..100 {
        let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
        match conn.batch_execute(&sql).await {
            Ok(()) => return name,
            Err(e) if e.to_string().contains("does not exist") => {
                build_template(&mut conn, admin_url, &template).await;
            }
            Err(e) if e.to_string().contains("being accessed by other users") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
    panic!("could not create a test database from {template}: the template stays busy");
}

async fn admin_connection(admin_url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {admin_url}: {e}"))
}

/// Migrates a database under a temporary name and renames it to `template` when complete, so
/// a half-built template is never cloned.
async fn build_template(conn: &mut AsyncPgConnection, admin_url: &str, template: &str) {
    let building = format!("{template}_build_{}", Uuid::now_v7().simple());
    let create = format!("CREATE DATABASE {building}");
    conn.batch_execute(&create).await.unwrap_or_else(|e| panic!("{create}: {e}"));
    let url = with_database(admin_url, &building);
    tokio::task::spawn_blocking(move || crm_store::run_migrations(&url))
        .await
        .expect("the migration task")
        .unwrap_or_else(|e| panic!("migrating the template database failed: {e}"));
    let rename = format!("ALTER DATABASE {building} RENAME TO {template}");
    for _ in 0..100 {
        match conn.batch_execute(&rename).await {
            Ok(()) => return,
            Err(e) if e.to_string().contains("already exists") => break,
            Err(e) if e.to_string().contains("being accessed by other users") => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{rename}: {e}"),
        }
    }
    // Another test process built the template first (or ours stayed busy): discard ours.
    let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await;
}

/// `crm_tpl_<hash of the PostgreSQL migrations>`: a changed migration gets a new template.
fn template_name() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/postgres");
    let mut files = Vec::new();
    collect_files(&root, &mut files);
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        let relative = file.strip_prefix(&root).unwrap_or(&file);
        hasher.update(relative.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&file).expect("a migration file"));
    }
    let digest = hex::encode(hasher.finalize());
    format!("crm_tpl_{}", &digest[..16])
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}
