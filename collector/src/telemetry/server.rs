//! The admin listener: `GET /metrics` in the Prometheus text format, `POST /-/reload` when
//! `enable_lifecycle` is set, the web console (`/`, `/console/...`, its JSON routes:
//! [`Console`]), and the routes components mount on it ([`AdminRoutes`]); every request
//! checked by an authenticator extension first when `auth:` is set ([`AdminAuth`]).

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Telemetry;
use super::console::Console;
use crate::Error;
use crate::component::admin::MAX_BODY;
use crate::component::{AdminRoutes, Host};
use crate::extensions::auth::AuthConfig;
use crate::net::server_tls::{ALPN_HTTP, ServerTls, ServerTlsConfig};
use crate::net::{self, Body, ServeOptions};

/// Asks the service to reload its configuration; the answer is the error text, if it failed.
pub(crate) type Reload = oneshot::Sender<Result<(), String>>;

/// How the admin listener authenticates requests (`service.telemetry.metrics.auth`): the
/// authenticator extension, looked up on the host at each request (extensions start after
/// the listener; a reload that changes the extension swaps the checker behind it).
#[derive(Clone, Debug)]
pub(crate) struct AdminAuth {
    /// Which extension.
    pub(crate) config: AuthConfig,
    /// Where it runs.
    pub(crate) host: Host,
}

impl AdminAuth {
    /// `None` when the request may go on, else the answer: 401 with the authenticator's
    /// challenge, or 503 while the authenticator is not running (closed, never open).
    async fn refuse(&self, headers: &http::HeaderMap) -> Option<Response<Body>> {
        match self.config.lookup(&self.host) {
            Ok(auth) => match auth.authenticate(headers).await {
                Ok(()) => None,
                Err(denied) => {
                    let mut response = text(StatusCode::UNAUTHORIZED, format!("{denied}\n"));
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, auth.challenge());
                    Some(response)
                }
            },
            Err(_) => Some(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the admin listener's authenticator is not running\n",
            )),
        }
    }
}

/// Binds `address` and serves until `shutdown` fires, over TLS when `tls` is given, checking
/// each request with `auth` when given; `POST /-/reload` sends to `reload` when given.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start(
    telemetry: Telemetry,
    console: Console,
    routes: AdminRoutes,
    address: SocketAddr,
    tls: Option<&ServerTlsConfig>,
    auth: Option<AdminAuth>,
    reload: Option<mpsc::Sender<Reload>>,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), Error> {
    let tls = tls
        .map(|tls| ServerTls::new(tls, ALPN_HTTP).map(std::sync::Arc::new))
        .transpose()
        .map_err(|err| Error::component("service.telemetry.metrics", err.to_string()))?;
    let listener = net::bind("service.telemetry.metrics", &address.to_string()).await?;
    let bound = listener
        .local_addr()
        .map_err(|err| Error::bind("service.telemetry.metrics", address.to_string(), err))?;
    let handle = net::serve(
        listener,
        move |req| {
            let telemetry = telemetry.clone();
            let console = console.clone();
            let routes = routes.clone();
            let reload = reload.clone();
            let auth = auth.clone();
            async move {
                if let Some(auth) = &auth
                    && let Some(refused) = auth.refuse(req.headers()).await
                {
                    return refused;
                }
                answer(req, &telemetry, &console, &routes, reload.as_ref()).await
            }
        },
        shutdown,
        ServeOptions {
            tls,
            ..ServeOptions::default()
        },
    );
    Ok((bound, handle))
}

async fn answer(
    req: Request<Incoming>,
    telemetry: &Telemetry,
    console: &Console,
    routes: &AdminRoutes,
    reload: Option<&mpsc::Sender<Reload>>,
) -> Response<Body> {
    let path = req.uri().path();
    if path == RELOAD {
        return match reload {
            Some(reload) => answer_reload(req.method(), reload).await,
            None => plain(
                StatusCode::NOT_FOUND,
                "not found; POST /-/reload needs service.telemetry.metrics.enable_lifecycle: true\n",
            ),
        };
    }
    if path == "/metrics" {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics\n");
        }
        return Response::builder()
            .header(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )
            .body(net::full(telemetry.render()))
            .unwrap_or_else(|_| Response::new(net::full("")));
    }
    if let Some(response) = console.answer(req.method(), path, req.uri().query(), routes) {
        return response;
    }
    let Some(handler) = routes.find(path) else {
        return plain(
            StatusCode::NOT_FOUND,
            "not found; the console is at /, metrics are at /metrics\n",
        );
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"),
    };
    handler(Request::from_parts(parts, body)).await
}

/// The lifecycle route (Prometheus's path).
const RELOAD: &str = "/-/reload";

/// `POST /-/reload`: 200 once the new configuration runs, 400 with the error when it was
/// refused (the old one keeps running).
async fn answer_reload(method: &Method, reload: &mpsc::Sender<Reload>) -> Response<Body> {
    if method != Method::POST && method != Method::PUT {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "use POST /-/reload\n");
    }
    let (tx, rx) = oneshot::channel();
    if reload.send(tx).await.is_err() {
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "lookout is shutting down\n",
        );
    }
    match rx.await {
        Ok(Ok(())) => plain(StatusCode::OK, "configuration reloaded\n"),
        Ok(Err(error)) => text(StatusCode::BAD_REQUEST, format!("{error}\n")),
        Err(_) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "lookout is shutting down\n",
        ),
    }
}

fn text(status: StatusCode, text: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(net::full(text))
        .unwrap_or_else(|_| Response::new(net::full("")))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(net::full(text))
        .unwrap_or_else(|_| Response::new(net::full("")))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::future::BoxFuture;
    use http::{HeaderMap, HeaderValue};

    use super::*;
    use crate::core::ComponentId;
    use crate::extensions::auth::{Authenticate, Denied, ServerAuthenticator};
    use crate::extensions::health_check::Health;

    /// Accepts the header `x-ok`, refuses anything else.
    struct HeaderCheck;

    impl Authenticate for HeaderCheck {
        fn authenticate<'a>(&'a self, headers: &'a HeaderMap) -> BoxFuture<'a, Result<(), Denied>> {
            let ok = headers.contains_key("x-ok");
            Box::pin(async move { if ok { Ok(()) } else { Err(Denied::Missing) } })
        }
        fn challenge(&self) -> HeaderValue {
            HeaderValue::from_static("Basic realm=\"test\"")
        }
    }

    #[tokio::test]
    async fn requests_are_refused_until_the_authenticator_runs_and_accepts_them() {
        let host = Host::new(Telemetry::new(), Health::default(), AdminRoutes::default());
        let id = ComponentId::parse("basicauth/admin").unwrap();
        let auth = AdminAuth {
            config: AuthConfig {
                authenticator: id.clone(),
            },
            host: host.clone(),
        };
        let mut ok = HeaderMap::new();
        ok.insert("x-ok", HeaderValue::from_static("1"));
        // Not running (yet): closed.
        let refused = auth.refuse(&ok).await.expect("refused");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        host.add_extension(id, Some(Arc::new(ServerAuthenticator::new(HeaderCheck))));
        let refused = auth.refuse(&HeaderMap::new()).await.expect("refused");
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            refused.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"test\""
        );
        assert!(auth.refuse(&ok).await.is_none(), "accepted");
    }
}
