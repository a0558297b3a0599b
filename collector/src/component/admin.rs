//! HTTP routes that components mount on the admin listener (the one serving `/metrics`), so
//! there stays one listener however many components offer an API.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response};

use crate::core::ComponentId;
use crate::net::Body;

/// Largest request body a route gets; larger requests are answered 413 before it runs.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Answers one request; the body has been read (at most [`MAX_BODY`] bytes).
pub(crate) type Handler =
    Arc<dyn Fn(Request<Bytes>) -> BoxFuture<'static, Response<Body>> + Send + Sync>;

#[derive(Clone)]
struct Route {
    owner: ComponentId,
    handler: Handler,
    /// Mounted with [`AdminRoutes::mount_fallback`]: an ordinary mount of the same prefix
    /// replaces it.
    fallback: bool,
}

/// The routes mounted so far. Cheap to clone; the admin server and the host share one.
#[derive(Clone, Default)]
pub struct AdminRoutes {
    routes: Arc<RwLock<BTreeMap<String, Route>>>,
}

impl std::fmt::Debug for AdminRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = self
            .routes
            .read()
            .map(|r| r.keys().cloned().collect::<Vec<_>>());
        f.debug_struct("AdminRoutes")
            .field("prefixes", &routes)
            .finish()
    }
}

/// Paths the admin server answers itself.
const RESERVED: &[&str] = &["/metrics", "/-/reload"];

impl AdminRoutes {
    /// Mounts `handler` for every path under `prefix` (`/api/v1/traces` also gets
    /// `/api/v1/traces/abc`). A prefix must start with `/`, not be taken by another
    /// component, and not shadow `/metrics` or `/-/reload`.
    pub fn mount(&self, owner: &ComponentId, prefix: &str, handler: Handler) -> Result<(), String> {
        let prefix = prefix.trim_end_matches('/');
        if !prefix.starts_with('/') || prefix.len() < 2 {
            return Err(format!(
                "admin route {prefix:?} must start with '/' and name a path"
            ));
        }
        if let Some(r) = RESERVED
            .iter()
            .find(|r| r.starts_with(prefix) || prefix.starts_with(*r))
        {
            return Err(format!("admin route {prefix} would shadow {r}"));
        }
        // The console answers first: a route at or under its paths would never be reached.
        if let Some(r) = crate::telemetry::console::PREFIXES
            .iter()
            .find(|r| under(prefix, r))
        {
            return Err(format!(
                "admin route {prefix} is under {r}, which the console serves"
            ));
        }
        let mut routes = self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = routes.get(prefix)
            && !existing.fallback
        {
            return Err(format!(
                "admin route {prefix} is already mounted by {}",
                existing.owner
            ));
        }
        routes.insert(
            prefix.to_string(),
            Route {
                owner: owner.clone(),
                handler,
                fallback: false,
            },
        );
        Ok(())
    }

    /// Mounts `handler` under `prefix` unless a component already did; a later
    /// [`mount`](AdminRoutes::mount) of the same prefix replaces it (the `store` exporter
    /// answers the trace APIs only where no `correlate` processor does). Returns whether it
    /// was mounted.
    pub fn mount_fallback(
        &self,
        owner: &ComponentId,
        prefix: &str,
        handler: Handler,
    ) -> Result<bool, String> {
        let prefix = prefix.trim_end_matches('/');
        if !prefix.starts_with('/') || prefix.len() < 2 {
            return Err(format!(
                "admin route {prefix:?} must start with '/' and name a path"
            ));
        }
        let mut routes = self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if routes.contains_key(prefix) {
            return Ok(false);
        }
        routes.insert(
            prefix.to_string(),
            Route {
                owner: owner.clone(),
                handler,
                fallback: true,
            },
        );
        Ok(true)
    }

    /// Every mounted route, to [`restore`](AdminRoutes::restore) if a config reload is refused
    /// after it unmounted some.
    pub(crate) fn snapshot(&self) -> AdminRoutes {
        let routes = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        AdminRoutes {
            routes: Arc::new(RwLock::new(routes)),
        }
    }

    /// Puts back the routes of `snapshot`, dropping any mounted since.
    pub(crate) fn restore(&self, snapshot: &AdminRoutes) {
        let saved = snapshot
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        *self
            .routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = saved;
    }

    /// Removes the routes `owner` mounted (a config reload rebuilds that component).
    pub(crate) fn unmount(&self, owner: &ComponentId) {
        self.routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, route| &route.owner != owner);
    }

    /// The handler of the longest mounted prefix that `path` is under.
    pub fn find(&self, path: &str) -> Option<Handler> {
        let routes = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        routes
            .iter()
            .rev()
            .find(|(prefix, _)| under(path, prefix))
            .map(|(_, route)| Arc::clone(&route.handler))
    }

    /// The mounted prefixes and their owners.
    pub fn list(&self) -> Vec<(String, ComponentId)> {
        let routes = self
            .routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        routes
            .iter()
            .map(|(p, r)| (p.clone(), r.owner.clone()))
            .collect()
    }
}

/// `path` is `prefix` or below it (a segment boundary follows).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(tag: &'static str) -> Handler {
        Arc::new(move |_req| Box::pin(async move { Response::new(crate::net::full(tag)) }))
    }

    #[test]
    fn longest_prefix_wins_and_segments_are_respected() {
        let routes = AdminRoutes::default();
        let id = ComponentId::parse("correlate").unwrap();
        routes.mount(&id, "/api", handler("api")).unwrap();
        routes
            .mount(&id, "/api/v1/traces", handler("traces"))
            .unwrap();
        assert!(routes.find("/api/v1/traces/0af7").is_some());
        assert!(routes.find("/apix").is_none());
        assert!(routes.find("/other").is_none());
        let listed: Vec<String> = routes.list().into_iter().map(|(p, _)| p).collect();
        assert_eq!(listed, ["/api", "/api/v1/traces"]);
    }

    #[test]
    fn a_fallback_yields_to_an_ordinary_mount() {
        let routes = AdminRoutes::default();
        let store = ComponentId::parse("store").unwrap();
        let correlate = ComponentId::parse("correlate").unwrap();
        assert!(
            routes
                .mount_fallback(&store, "/api/traces", handler("store"))
                .unwrap()
        );
        routes
            .mount(&correlate, "/api/traces", handler("correlate"))
            .unwrap();
        assert_eq!(routes.list()[0].1, correlate);
        // Taken: the fallback is not mounted, and not an error.
        assert!(
            !routes
                .mount_fallback(&store, "/api/traces", handler("store"))
                .unwrap()
        );
        assert_eq!(routes.list()[0].1, correlate);
    }

    #[test]
    fn conflicts_are_refused() {
        let routes = AdminRoutes::default();
        let a = ComponentId::parse("a").unwrap();
        let b = ComponentId::parse("b").unwrap();
        routes.mount(&a, "/api/x", handler("a")).unwrap();
        let err = routes.mount(&b, "/api/x/", handler("b")).unwrap_err();
        assert!(err.contains("already mounted by a"), "{err}");
        assert!(routes.mount(&b, "/metrics", handler("b")).is_err());
        assert!(routes.mount(&b, "api", handler("b")).is_err());
        let err = routes
            .mount(&b, "/api/v1/pipelines/x", handler("b"))
            .unwrap_err();
        assert!(err.contains("console"), "{err}");
        assert!(routes.mount(&b, "/console", handler("b")).is_err());
    }
}
