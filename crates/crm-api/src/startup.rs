//! Building and running the server. `Application::build` binds and returns the port, so
//! tests bind port 0 and production the configured address through the same code.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use anyhow::Context;
use utoipa_actix_web::{AppExt, UtoipaApp, scope};
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::error::{ApiError, ErrorCode};
use crate::extract::path_config;
use crate::middleware::{gate, request_context};
use crate::routes::{self, system};
use crate::state::AppState;

/// The lease every node competes for before expiring points.
const POINTS_EXPIRY_JOB: &str = "points_expiry";
/// Customers per read of an expiry run.
const POINTS_EXPIRY_BATCH: i64 = 500;

/// Expires due points every `interval`, on whichever node claims the run's lease in the
/// database: with several nodes, one of them runs it per interval.
async fn expire_points(state: web::Data<AppState>, interval: Duration) {
    let holder = uuid::Uuid::now_v7().to_string();
    let ttl = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::hours(1));
    loop {
        match crm_store::loyalty::claim_lease(&state.store, POINTS_EXPIRY_JOB, &holder, ttl).await {
            Ok(true) => match crm_store::loyalty::expire_due(&state.store, POINTS_EXPIRY_BATCH).await {
                Ok(report) if report.lots_expired > 0 => log::info!(
                    "expired {} points in {} lots of {} customers",
                    report.points_expired,
                    report.lots_expired,
                    report.customers
                ),
                Ok(_) => {}
                Err(e) => log::warn!("expiring points: {e}"),
            },
            Ok(false) => {}
            Err(e) => log::warn!("claiming the points expiry lease: {e}"),
        }
        tokio::time::sleep(interval).await;
    }
}

/// A pooled database connection not checked out for this long is closed by the housekeeping,
/// which runs every [`HOUSEKEEPING_INTERVAL`].
const IDLE_CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);
/// How long idempotency keys are kept.
const IDEMPOTENCY_RETENTION: chrono::Duration = chrono::Duration::hours(24);

/// Every route, on an app that may or may not be served (the spec is built from the same list).
pub fn register<T, B>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        >,
    B: MessageBody + 'static,
{
    app.service(system::healthz)
        .service(system::readyz)
        .service(system::metrics)
        .service(scope::scope("/v1").wrap(from_fn(gate)).configure(routes::configure))
}

/// The documented routes, to tell "no such path" (404) from "not with this method" (405).
pub struct KnownRoutes(Vec<(Vec<String>, Vec<String>)>);

impl KnownRoutes {
    fn from_spec(spec: &utoipa::openapi::OpenApi) -> KnownRoutes {
        let routes = spec
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.split('/').map(str::to_owned).collect();
                let item = serde_json::to_value(item).unwrap_or_default();
                let methods = ["get", "post", "put", "patch", "delete"]
                    .into_iter()
                    .filter(|m| item.get(m).is_some())
                    .map(str::to_uppercase)
                    .collect();
                (segments, methods)
            })
            .collect();
        KnownRoutes(routes)
    }

    /// The methods a path accepts; empty when no route has this shape (a parameter, as in the
    /// router, never matches an empty segment: `/leads//convert`). Where a literal route
    /// and a templated one both match (`/deals/forecast`, `/deals/{id}`), the literal one wins,
    /// as it does in the router.
    fn methods_for(&self, path: &str) -> Vec<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let matching: Vec<(usize, &Vec<String>)> = self
            .0
            .iter()
            .filter(|(pattern, _)| {
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
            })
            .map(|(pattern, methods)| (pattern.iter().filter(|p| !p.starts_with('{')).count(), methods))
            .collect();
        let best = matching.iter().map(|(literals, _)| *literals).max().unwrap_or_default();
        let mut methods: Vec<String> = Vec::new();
        for method in matching.into_iter().filter(|(literals, _)| *literals == best).flat_map(|(_, m)| m.iter()) {
            if !methods.contains(method) {
                methods.push(method.clone());
            }
        }
        methods
    }
}

/// Marks the responses of the fallback service: no route took the request. Tests read it to
/// tell the router's 404/405 from a handler's.
pub struct Unrouted;

async fn unknown_route(req: HttpRequest, routes: web::Data<KnownRoutes>) -> HttpResponse {
    let mut response = unrouted_response(&req, &routes);
    response.extensions_mut().insert(Unrouted);
    response
}

fn unrouted_response(req: &HttpRequest, routes: &KnownRoutes) -> HttpResponse {
    let allowed = routes.methods_for(req.path());
    if allowed.is_empty() {
        let error = ApiError::new(ErrorCode::NotFound, format!("no route for {} {}", req.method(), req.path()));
        return error.error_response();
    }
    method_not_allowed_response(req, &allowed)
}

/// The 405 for a request that a templated route of its method took, though the path names a
/// literal route of other methods (`PATCH /deals/forecast` reached `PATCH /deals/{id}`): the
/// router only finds out when the id does not parse.
pub fn literal_route_of_other_methods(req: &HttpRequest) -> Option<HttpResponse> {
    let routes = req.app_data::<web::Data<KnownRoutes>>()?;
    let allowed = routes.methods_for(req.path());
    let method = req.method().as_str();
    (!allowed.is_empty() && !allowed.iter().any(|m| m == method)).then(|| method_not_allowed_response(req, &allowed))
}

fn method_not_allowed_response(req: &HttpRequest, allowed: &[String]) -> HttpResponse {
    let detail = format!("{} is not allowed here; use {}", req.method(), allowed.join(", "));
    let mut response = ApiError::new(ErrorCode::MethodNotAllowed, detail).error_response();
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(actix_web::http::header::ALLOW, value);
    }
    response
}

/// The spec and the route table, made once and shared by every worker: the document is large
/// (a copy per worker cost tens of MB of resident memory) and never changes while running.
#[derive(Clone)]
pub struct Docs {
    json: web::Bytes,
    routes: web::Data<KnownRoutes>,
}

impl Docs {
    pub fn new(spec: &utoipa::openapi::OpenApi) -> Docs {
        let json = crate::openapi::to_json(spec, false);
        Docs { json: web::Bytes::from(json), routes: web::Data::new(KnownRoutes::from_spec(spec)) }
    }
}

async fn serve_spec(json: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(json)
}

async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}

/// The app exactly as served (middleware, every route, the docs, the 404/405 fallback), built
/// once per worker; tests build it too, to read the routing table actix really uses.
pub fn app(
    state: web::Data<AppState>,
    docs: Docs,
    body_limit: usize,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = register(
        App::new()
            .app_data(state)
            .app_data(web::PayloadConfig::new(body_limit))
            .app_data(path_config())
            .app_data(docs.routes.clone())
            .wrap(from_fn(request_context))
            .into_utoipa_app(),
    )
    .split_for_parts();
    let spec = docs.json.clone();
    app.service(SwaggerUi::new("/docs/{_:.*}").config(utoipa_swagger_ui::Config::from("/openapi.json")))
        .route("/openapi.json", web::get().to(move || serve_spec(spec.clone())))
        .route("/docs", web::get().to(docs_redirect))
        .default_service(web::to(unknown_route))
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    points_expiry: Option<Duration>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let url = config.database_url.clone();
        let applied = tokio::task::spawn_blocking(move || crm_store::run_migrations(&url)).await??;
        if applied > 0 {
            log::info!("applied {applied} migration(s)");
        }
        let store = crm_store::Store::open(&config.database_url, config.replica_url.as_deref(), config.pool_size)?;
        let created = crm_store::pipelines::ensure_defaults(&store).await?;
        if created > 0 {
            log::info!("created the default pipeline of {created} workspace(s)");
        }
        let state = web::Data::from(AppState::new(&config, store)?);
        let listener = TcpListener::bind(&config.bind).with_context(|| format!("binding {}", config.bind))?;
        let port = listener.local_addr()?.port();
        let docs = Docs::new(&crate::openapi::spec());
        let body_limit = config.body_limit;
        let app_state = state.clone();
        let server = HttpServer::new(move || app(app_state.clone(), docs.clone(), body_limit))
            .workers(config.workers)
            .listen(listener)?
            .run();
        let points_expiry = Some(Duration::from_secs(config.points_expiry_interval_secs)).filter(|d| !d.is_zero());
        Ok(Application { port, server, state, points_expiry })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is told to stop; housekeeping runs alongside.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let state = self.state.clone();
        let housekeeping = tokio::spawn(async move {
            loop {
                match crm_store::idempotency::purge(&state.store, IDEMPOTENCY_RETENTION).await {
                    Ok(0) => {}
                    Ok(n) => log::info!("purged {n} expired idempotency keys"),
                    Err(e) => log::warn!("purging idempotency keys: {e}"),
                }
                state.store.close_idle(IDLE_CONNECTION_LIFETIME);
                state.limiter.retain_recent();
                state.login_limiter.retain_recent();
                state.form_limiter.retain_recent();
                tokio::time::sleep(HOUSEKEEPING_INTERVAL).await;
            }
        });
        let expiry = self.points_expiry.map(|interval| tokio::spawn(expire_points(self.state.clone(), interval)));
        let result = self.server.await;
        housekeeping.abort();
        if let Some(expiry) = expiry {
            expiry.abort();
        }
        result
    }
}
