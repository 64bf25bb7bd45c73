//! `crm-bench crash` (`make crash-test`): crash consistency. A write load runs against `crm serve`,
//! the server is killed with SIGKILL at a seeded random moment and restarted on the same database,
//! then every acknowledged write must be there whole (row, tags index, audit) and nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::header::HeaderMap;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

/// crm-store lets a retry take over an idempotency key left "in progress" after 60 s; one more
/// second of margin.
const KEY_ABANDONED_AFTER: Duration = Duration::from_secs(61);
/// Concurrent requests of the checking phases.
const CHECKERS: usize = 8;
const JWT_SECRET: &str = "crash-test-only-secret-0123456789abcdef0123456789";

pub struct Options {
    pub crm: PathBuf,
    /// `(name, database URL)`, each a fresh, empty database.
    pub targets: Vec<(String, String)>,
    pub port: u16,
    pub cycles: u32,
    pub seed: u64,
    pub min_load_ms: u64,
    pub max_load_ms: u64,
    pub writers: usize,
    pub log_dir: PathBuf,
}

/// Runs every target and prints the summary table; fails when any target had a violation.
pub async fn run(options: &Options) -> anyhow::Result<()> {
    let mut summaries = Vec::new();
    for (name, url) in &options.targets {
        eprintln!("[crash] {name}: {} cycles, seed {}", options.cycles, options.seed);
        let summary = run_target(options, name, url).await?;
        for violation in summary.violations.iter().take(20) {
            eprintln!("[crash] {name}: VIOLATION {violation}");
        }
        summaries.push(summary);
    }
    println!("{}", table(options, &summaries));
    let violations: usize = summaries.iter().map(|s| s.violations.len()).sum();
    if violations > 0 {
        bail!("{violations} crash-consistency violation(s)");
    }
    Ok(())
}

/// What a customer looks like as far as this test is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    version: i64,
    first_name: String,
    /// The one tag beside `crash`; every write sets a new one.
    tag: String,
    deleted: bool,
}

#[derive(Debug, Clone, Default)]
struct Counts {
    creates: u64,
    updates: u64,
    deletes: u64,
}

#[derive(Debug, Clone)]
struct Tracked {
    key: String,
    /// The state after the last acknowledged (or, after a check, observed) write.
    acked: State,
    /// The state an unacknowledged write in flight would leave.
    pending: Option<State>,
    /// Writes known to have happened: acknowledged, or in flight and seen landed.
    counts: Counts,
    /// Tags given to this customer since its last check, all but the current one stale.
    tags_sent: Vec<String>,
}

#[derive(Debug, Clone)]
struct NewCustomer {
    key: String,
    first_name: String,
    tag: String,
}

impl NewCustomer {
    fn email(&self) -> String {
        format!("{}@crash.example", self.key)
    }

    fn body(&self) -> Value {
        json!({"kind": "person", "first_name": self.first_name, "email": self.email(), "tags": ["crash", self.tag]})
    }
}

#[derive(Default)]
struct Stats {
    acked: Counts,
    in_flight: u64,
    landed: u64,
    replayed: u64,
    recreated: u64,
    lost: u64,
    duplicates: u64,
    checks: u64,
}

#[derive(Default)]
struct Model {
    customers: BTreeMap<String, Tracked>,
    /// Creates sent and not acknowledged: retried after the restart.
    unacked_creates: Vec<NewCustomer>,
    /// Creates whose key was still "in progress" after the restart, and when that was seen.
    stuck: Vec<(NewCustomer, Instant)>,
    /// Customers written since their last check.
    dirty: BTreeSet<String>,
    stats: Stats,
    violations: Vec<String>,
}

struct Ctx {
    client: Client,
    base: String,
    api_key: String,
    prefix: String,
    counter: AtomicU64,
    model: Mutex<Model>,
}

impl Ctx {
    fn model(&self) -> MutexGuard<'_, Model> {
        // A writer that panicked must not hide the others' results.
        self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn violation(&self, text: String) {
        self.model().violations.push(text);
    }

    /// One request, its body read to the end: `Err` when the server did not answer completely.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &Value)>,
    ) -> Result<(StatusCode, HeaderMap, Value), reqwest::Error> {
        let mut request =
            self.client.request(method, format!("{}{path}", self.base)).header("X-API-Key", &self.api_key);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some((content_type, body)) = body {
            request = request.header("Content-Type", content_type).body(body.to_string());
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, headers, value))
    }

    async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let (status, _, body) = self.send(Method::GET, path, &[], None).await.with_context(|| format!("GET {path}"))?;
        Ok((status, body))
    }

    /// Every item of a keyset-paginated list.
    async fn list_all(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
                None => format!("{path}{sep}limit=200"),
            };
            let (status, page) = self.get(&page_path).await?;
            if status != StatusCode::OK {
                bail!("GET {page_path}: {status} {page}");
            }
            items.extend(page["data"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(items),
            }
        }
    }
}

fn state_of(customer: &Value) -> Option<(String, State)> {
    let id = customer["id"].as_str()?.to_owned();
    let tags: Vec<&str> = customer["tags"].as_array()?.iter().filter_map(Value::as_str).collect();
    let tag = match tags.as_slice() {
        ["crash", tag] | [tag, "crash"] => (*tag).to_owned(),
        other => format!("unexpected tags {other:?}"),
    };
    let state = State {
        version: customer["version"].as_i64()?,
        first_name: customer["first_name"].as_str().unwrap_or_default().to_owned(),
        tag,
        deleted: !customer["deleted_at"].is_null(),
    };
    Some((id, state))
}

/// The server was gone before the response was complete.
struct Gone;

/// One writer: creates, patches and deletes its own customers until the server dies.
async fn writer(ctx: Arc<Ctx>, mut own: Vec<String>, mut rng: StdRng) {
    loop {
        let roll: f64 = rng.random();
        let outcome = if own.is_empty() || roll < 0.4 {
            create(&ctx).await.map(|id| own.extend(id))
        } else {
            let i = rng.random_range(0..own.len());
            let id = own[i].clone();
            let deleting = roll >= 0.88;
            match write(&ctx, &id, deleting).await {
                Ok(keep) => {
                    if !keep {
                        own.swap_remove(i);
                    }
                    Ok(())
                }
                Err(e) => Err(e),
            }
        };
        if outcome.is_err() {
            return;
        }
    }
}

async fn create(ctx: &Ctx) -> Result<Option<String>, Gone> {
    let n = ctx.counter.fetch_add(1, Ordering::Relaxed);
    let new = NewCustomer { key: format!("{}-{n}", ctx.prefix), first_name: format!("F{n}"), tag: format!("t{n}") };
    ctx.model().unacked_creates.push(new.clone());
    let headers = [("Idempotency-Key", new.key.clone())];
    let body = new.body();
    let (status, _, response) =
        ctx.send(Method::POST, "/v1/customers", &headers, Some(("application/json", &body))).await.map_err(|_| Gone)?;
    if status != StatusCode::CREATED {
        ctx.violation(format!("POST /v1/customers ({}) answered {status}: {response}", new.key));
        return Ok(None);
    }
    Ok(acknowledge_create(ctx, &new, &response, false))
}

/// Records an acknowledged create; the customer's id when the response is the expected one.
fn acknowledge_create(ctx: &Ctx, new: &NewCustomer, response: &Value, replay: bool) -> Option<String> {
    let mut model = ctx.model();
    model.unacked_creates.retain(|c| c.key != new.key);
    let Some((id, state)) = state_of(response) else {
        model.violations.push(format!("create {}: not a customer: {response}", new.key));
        return None;
    };
    let expected = State { version: 1, first_name: new.first_name.clone(), tag: new.tag.clone(), deleted: false };
    if state != expected {
        model.violations.push(format!("create {} answered {state:?}, expected {expected:?}", new.key));
    }
    if !replay {
        model.stats.acked.creates += 1;
    }
    let counts = Counts { creates: 1, ..Counts::default() };
    let tracked =
        Tracked { key: new.key.clone(), acked: expected, pending: None, counts, tags_sent: vec![new.tag.clone()] };
    model.customers.insert(id.clone(), tracked);
    model.dirty.insert(id.clone());
    Some(id)
}

/// A PATCH (new name and tag) or a DELETE of one of the writer's customers, with `If-Match`.
/// `Ok(false)`: leave this customer alone from now on (deleted, or an unexpected answer).
async fn write(ctx: &Ctx, id: &str, deleting: bool) -> Result<bool, Gone> {
    let n = ctx.counter.fetch_add(1, Ordering::Relaxed);
    let (version, next) = {
        let mut model = ctx.model();
        let Some(tracked) = model.customers.get_mut(id) else {
            return Ok(false);
        };
        let mut next = tracked.acked.clone();
        next.version += 1;
        if deleting {
            next.deleted = true;
        } else {
            next.first_name = format!("F{n}");
            next.tag = format!("t{n}");
            tracked.tags_sent.push(next.tag.clone());
        }
        tracked.pending = Some(next.clone());
        let version = tracked.acked.version;
        model.dirty.insert(id.to_owned());
        (version, next)
    };
    let path = format!("/v1/customers/{id}");
    let headers = [("If-Match", format!("\"{version}\""))];
    let body = json!({"first_name": next.first_name, "tags": ["crash", next.tag]});
    let method = if deleting { Method::DELETE } else { Method::PATCH };
    let request_body = (!deleting).then_some(("application/merge-patch+json", &body));
    let (status, _, response) = ctx.send(method.clone(), &path, &headers, request_body).await.map_err(|_| Gone)?;
    let expected_status = if deleting { StatusCode::NO_CONTENT } else { StatusCode::OK };
    let mut model = ctx.model();
    if status != expected_status {
        model.violations.push(format!("{method} {path} (If-Match {version}) answered {status}: {response}"));
        return Ok(false);
    }
    if !deleting {
        match state_of(&response) {
            Some((_, state)) if state == next => {}
            other => model.violations.push(format!("PATCH {path} answered {other:?}, expected {next:?}")),
        }
    }
    let Some(tracked) = model.customers.get_mut(id) else {
        return Ok(false);
    };
    tracked.acked = next;
    tracked.pending = None;
    if deleting {
        tracked.counts.deletes += 1;
        model.stats.acked.deletes += 1;
    } else {
        tracked.counts.updates += 1;
        model.stats.acked.updates += 1;
    }
    Ok(!deleting)
}

/// Checks one customer against what was acknowledged, then takes what is stored as the new truth.
async fn check_customer(ctx: &Ctx, id: &str) -> anyhow::Result<()> {
    let Some(tracked) = ctx.model().customers.get(id).cloned() else {
        return Ok(());
    };
    let mut violations = Vec::new();
    let (status, body) = ctx.get(&format!("/v1/customers/{id}?include_deleted=true")).await?;
    if status != StatusCode::OK {
        let mut model = ctx.model();
        model.stats.lost += 1;
        model.violations.push(format!("acknowledged customer {id} ({}): GET answered {status}: {body}", tracked.key));
        return Ok(());
    }
    let Some((_, observed)) = state_of(&body) else {
        ctx.violation(format!("customer {id}: not a customer: {body}"));
        return Ok(());
    };
    let landed = tracked.pending.as_ref() == Some(&observed);
    if observed != tracked.acked && !landed {
        let lost = observed.version <= tracked.acked.version;
        let what = if lost { "LOST WRITE" } else { "unexpected state" };
        violations.push(format!(
            "{what}: customer {id} is {observed:?}; acknowledged {:?}, in flight {:?}",
            tracked.acked, tracked.pending
        ));
    }

    // The audit log: one event per version, and at least one per known write.
    let events = ctx.list_all(&format!("/v1/customers/{id}/history")).await?;
    let count = |action: &str| events.iter().filter(|e| e["action"] == action).count() as u64;
    let mut counts = tracked.counts.clone();
    if landed && tracked.pending.as_ref().is_some_and(|p| p.deleted) {
        counts.deletes += 1;
    } else if landed {
        counts.updates += 1;
    }
    if events.len() as i64 != observed.version {
        violations.push(format!("customer {id} has version {} but {} audit events", observed.version, events.len()));
    }
    if count("create") != 1 || count("update") < counts.updates || count("delete") < counts.deletes {
        violations.push(format!(
            "customer {id}: audit has {} create / {} update / {} delete, known writes {counts:?}",
            count("create"),
            count("update"),
            count("delete")
        ));
    }

    // The tags index: the current tag finds exactly this customer, stale ones find nothing.
    let deleted = if observed.deleted { "&deleted=true" } else { "" };
    let found = ctx.list_all(&format!("/v1/customers?tag={}{deleted}", observed.tag)).await?;
    let ids: Vec<&str> = found.iter().filter_map(|c| c["id"].as_str()).collect();
    if ids != [id] {
        violations.push(format!("?tag={}{deleted} lists {ids:?}, expected only {id}", observed.tag));
    }
    for stale in tracked.tags_sent.iter().filter(|t| **t != observed.tag) {
        for deleted in ["", "&deleted=true"] {
            let found = ctx.list_all(&format!("/v1/customers?tag={stale}{deleted}")).await?;
            if !found.is_empty() {
                violations.push(format!("stale tag {stale} of customer {id} still lists {} customer(s)", found.len()));
            }
        }
    }

    let mut model = ctx.model();
    model.stats.checks += 1;
    if landed {
        model.stats.landed += 1;
    }
    model.violations.extend(violations);
    if let Some(t) = model.customers.get_mut(id) {
        t.acked = observed.clone();
        t.pending = None;
        t.counts = counts;
        t.tags_sent = vec![observed.tag];
    }
    Ok(())
}

async fn check_all(ctx: &Ctx, ids: Vec<String>) -> anyhow::Result<()> {
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(ids)
        .map(|id| async move { check_customer(ctx, &id).await })
        .buffer_unordered(CHECKERS)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Retries every create that was never acknowledged, with its key and body: a replay, a first
/// creation, or "in progress" (the key's claim outlived the process; retried once abandoned).
async fn retry_creates(ctx: &Ctx, creates: Vec<NewCustomer>) -> anyhow::Result<()> {
    for new in creates {
        let headers = [("Idempotency-Key", new.key.clone())];
        let body = new.body();
        let (status, headers, response) = ctx
            .send(Method::POST, "/v1/customers", &headers, Some(("application/json", &body)))
            .await
            .with_context(|| format!("retrying POST {}", new.key))?;
        let replayed = headers.get("idempotent-replayed").is_some_and(|v| v == "true");
        match status {
            StatusCode::CREATED => {
                {
                    let mut model = ctx.model();
                    if replayed {
                        model.stats.replayed += 1;
                        model.stats.landed += 1;
                    } else {
                        model.stats.recreated += 1;
                    }
                }
                acknowledge_create(ctx, &new, &response, replayed);
            }
            StatusCode::CONFLICT if response["code"] == "idempotency_key_in_use" => {
                let mut model = ctx.model();
                model.unacked_creates.retain(|c| c.key != new.key);
                model.stuck.push((new, Instant::now()));
            }
            other => ctx.violation(format!("retried POST {} answered {other}: {response}", new.key)),
        }
    }
    Ok(())
}

/// After everything: each idempotency key made at most one customer, every stored customer is
/// known, and the `crash` tag lists exactly the live ones.
async fn check_totals(ctx: &Ctx) -> anyhow::Result<()> {
    let mut listed = ctx.list_all("/v1/customers").await?;
    let live: BTreeSet<String> = listed.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect();
    listed.extend(ctx.list_all("/v1/customers?deleted=true").await?);
    let tagged: BTreeSet<String> = ctx
        .list_all("/v1/customers?tag=crash")
        .await?
        .iter()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect();
    let mut by_email: HashMap<String, Vec<String>> = HashMap::new();
    for c in &listed {
        let email = c["email"].as_str().unwrap_or_default().to_owned();
        by_email.entry(email).or_default().extend(c["id"].as_str().map(str::to_owned));
    }
    let mut model = ctx.model();
    let mut violations = Vec::new();
    for (email, ids) in &by_email {
        if ids.len() > 1 {
            model.stats.duplicates += ids.len() as u64 - 1;
            violations.push(format!("idempotency key {email}: {} customers {ids:?}", ids.len()));
        }
    }
    for c in &listed {
        let id = c["id"].as_str().unwrap_or_default();
        if !model.customers.contains_key(id) {
            violations.push(format!("customer {id} ({}) was never acknowledged nor retried", c["email"]));
        }
    }
    let tracked_live: BTreeSet<String> =
        model.customers.iter().filter(|(_, t)| !t.acked.deleted).map(|(id, _)| id.clone()).collect();
    if live != tracked_live {
        violations.push(format!("{} live customers listed, {} known live", live.len(), tracked_live.len()));
    }
    if tagged != live {
        violations.push(format!("?tag=crash lists {} customers, {} are live", tagged.len(), live.len()));
    }
    model.violations.extend(violations);
    Ok(())
}

struct Server<'a> {
    options: &'a Options,
    url: &'a str,
    log: File,
    child: Option<Child>,
}

impl Server<'_> {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.options.crm);
        command
            .env("DATABASE_URL", self.url)
            .env("CRM_BIND", format!("127.0.0.1:{}", self.options.port))
            .env("CRM_JWT_SECRET", JWT_SECRET)
            .env("RUST_LOG", "warn")
            .env("CRM_RATE_LIMIT_PER_SECOND", "100000000")
            .env("CRM_RATE_LIMIT_BURST", "100000000");
        command
    }

    /// `crm admin bootstrap`: the workspace's API key.
    fn bootstrap(&self) -> anyhow::Result<String> {
        let output = self
            .command()
            .args(["admin", "bootstrap", "--workspace", "Crash", "--email", "crash@example.com"])
            .args(["--password", "correct horse battery"])
            .stderr(Stdio::inherit())
            .output()
            .context("running crm admin bootstrap")?;
        if !output.status.success() {
            bail!("crm admin bootstrap failed: {}", output.status);
        }
        let printed: Value = serde_json::from_slice(&output.stdout).context("crm admin bootstrap output")?;
        printed["api_key"].as_str().map(str::to_owned).context("no api_key in crm admin bootstrap output")
    }

    async fn start(&mut self, client: &Client) -> anyhow::Result<()> {
        let ready = format!("http://127.0.0.1:{}/readyz", self.options.port);
        if client.get(&ready).send().await.is_ok() {
            bail!("something already answers on port {}", self.options.port);
        }
        let child = self
            .command()
            .arg("serve")
            .stdout(self.log.try_clone()?)
            .stderr(self.log.try_clone()?)
            .spawn()
            .context("starting crm serve")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if client.get(&ready).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().map(Child::try_wait).transpose()?.flatten() {
                bail!("crm serve exited with {status} before it was ready");
            }
            if Instant::now() > deadline {
                bail!("crm serve was not ready after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown hook, no flush, no graceful close of connections.
    fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

struct Summary {
    name: String,
    stats: Stats,
    customers: usize,
    violations: Vec<String>,
    seconds: f64,
}

fn client() -> anyhow::Result<Client> {
    Ok(Client::builder().timeout(Duration::from_secs(30)).build()?)
}

async fn run_target(options: &Options, name: &str, url: &str) -> anyhow::Result<Summary> {
    let started = Instant::now();
    std::fs::create_dir_all(&options.log_dir)?;
    let log = File::create(options.log_dir.join(format!("crash-{name}.log")))?;
    let mut server = Server { options, url, log, child: None };
    let api_key = server.bootstrap()?;
    let mut schedule = StdRng::seed_from_u64(options.seed);
    let mut ctx = Arc::new(Ctx {
        client: client()?,
        base: format!("http://127.0.0.1:{}", options.port),
        api_key,
        prefix: format!("crash-{}-{name}", options.seed),
        counter: AtomicU64::new(0),
        model: Mutex::new(Model::default()),
    });

    for cycle in 0..=options.cycles {
        // A fresh client per cycle: pooled connections died with the old process.
        Arc::get_mut(&mut ctx).context("a writer outlived its cycle")?.client = client()?;
        server.start(&ctx.client).await?;
        let last = cycle == options.cycles;
        recover(&ctx, last).await?;
        if last {
            check_totals(&ctx).await?;
            server.kill()?;
            let model = std::mem::take(&mut *ctx.model());
            return Ok(Summary {
                name: name.to_owned(),
                customers: model.customers.len(),
                stats: model.stats,
                violations: model.violations,
                seconds: started.elapsed().as_secs_f64(),
            });
        }

        let load_ms = schedule.random_range(options.min_load_ms..=options.max_load_ms);
        let live: Vec<String> =
            ctx.model().customers.iter().filter(|(_, t)| !t.acked.deleted).map(|(id, _)| id.clone()).collect();
        let writers: Vec<_> = (0..options.writers)
            .map(|w| {
                let own = live.iter().skip(w).step_by(options.writers).cloned().collect();
                let rng = StdRng::seed_from_u64(schedule.random());
                tokio::spawn(writer(ctx.clone(), own, rng))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(load_ms)).await;
        server.kill()?;
        for w in writers {
            w.await?;
        }
        let mut model = ctx.model();
        let in_flight = model.customers.values().filter(|t| t.pending.is_some()).count() + model.unacked_creates.len();
        model.stats.in_flight += in_flight as u64;
        eprintln!(
            "[crash] {name} cycle {:>2}: killed after {load_ms} ms; {} customers, {in_flight} writes in flight",
            cycle + 1,
            model.customers.len(),
        );
    }
    bail!("the last cycle returns")
}

/// After a restart: retry unacknowledged creates, check every customer written since the last
/// check (all of them at the end, after waiting out the keys left "in progress").
async fn recover(ctx: &Ctx, last: bool) -> anyhow::Result<()> {
    let creates = std::mem::take(&mut ctx.model().unacked_creates);
    retry_creates(ctx, creates).await?;
    let wait_until = {
        let model = ctx.model();
        if last { model.stuck.iter().map(|(_, seen)| *seen + KEY_ABANDONED_AFTER).max() } else { None }
    };
    if let Some(at) = wait_until {
        let wait = at.saturating_duration_since(Instant::now());
        eprintln!("[crash] waiting {:.0} s for idempotency keys left in progress to be abandoned", wait.as_secs_f64());
        tokio::time::sleep(wait).await;
    }
    let now = Instant::now();
    let due: Vec<NewCustomer> = {
        let mut model = ctx.model();
        let (due, later): (Vec<_>, Vec<_>) =
            std::mem::take(&mut model.stuck).into_iter().partition(|(_, seen)| now >= *seen + KEY_ABANDONED_AFTER);
        model.stuck = later;
        due.into_iter().map(|(c, _)| c).collect()
    };
    retry_creates(ctx, due).await?;
    if last {
        let mut model = ctx.model();
        let stuck: Vec<(NewCustomer, Instant)> = std::mem::take(&mut model.stuck);
        for (new, _) in stuck {
            model
                .violations
                .push(format!("idempotency key {} still in progress after {KEY_ABANDONED_AFTER:?}", new.key));
        }
    }
    let ids: Vec<String> = {
        let mut model = ctx.model();
        if last {
            model.customers.keys().cloned().collect()
        } else {
            std::mem::take(&mut model.dirty).into_iter().collect()
        }
    };
    check_all(ctx, ids).await
}

fn table(options: &Options, summaries: &[Summary]) -> String {
    let mut out = format!(
        "crash test: seed {}, {} cycles per database, {}–{} ms of load per cycle, {} writers\n\n",
        options.seed, options.cycles, options.min_load_ms, options.max_load_ms, options.writers
    );
    out.push_str(
        "| database | cycles | acked creates | acked updates | acked deletes | in flight at kill | landed anyway \
         | POST retries replayed / created | customers checked | duplicates | lost writes | violations | seconds |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for s in summaries {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {:.0} |\n",
            s.name,
            options.cycles,
            s.stats.acked.creates,
            s.stats.acked.updates,
            s.stats.acked.deletes,
            s.stats.in_flight,
            s.stats.landed,
            s.stats.replayed,
            s.stats.recreated,
            s.customers,
            s.stats.duplicates,
            s.stats.lost,
            s.violations.len(),
            s.seconds
        ));
    }
    out
}
