//! The route table: every path the application serves, recorded where the routes are
//! declared. The authorization matrix test walks it, so a route added without an entry
//! in that matrix fails the test instead of shipping unchecked.

use axum::http::Method;
use axum::routing::MethodRouter;
use axum::Router;

use crate::AppState;

/// One routed path. The REST API's methods come from its OpenAPI document; for the rest
/// (portal, console, Graph, feeds, operational endpoints) the router itself knows them,
/// and `methods` is `None`: ask the running app, which answers 405 for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub path: String,
    pub methods: Option<Vec<Method>>,
}

#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    entries: Vec<RouteEntry>,
}

impl RouteTable {
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    fn add_path(&mut self, path: &str) {
        self.entries.push(RouteEntry {
            path: path.to_owned(),
            methods: None,
        });
    }

    /// Adds the operations of an OpenAPI document.
    pub(crate) fn add_openapi(&mut self, doc: &utoipa::openapi::OpenApi) {
        for (path, item) in &doc.paths.paths {
            let operations = [
                (Method::GET, item.get.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
                (Method::HEAD, item.head.is_some()),
                (Method::OPTIONS, item.options.is_some()),
            ];
            self.entries.push(RouteEntry {
                path: path.clone(),
                methods: Some(
                    operations
                        .into_iter()
                        .filter(|(_, present)| *present)
                        .map(|(m, _)| m)
                        .collect(),
                ),
            });
        }
    }
}

/// Declares a route and records its path. `Router::route` itself is refused by clippy
/// (see clippy.toml), so every route goes through here.
pub(crate) trait RouterExt {
    fn at(self, table: &mut RouteTable, path: &str, route: MethodRouter<AppState>) -> Self;
}

impl RouterExt for Router<AppState> {
    #[allow(clippy::disallowed_methods)]
    fn at(self, table: &mut RouteTable, path: &str, route: MethodRouter<AppState>) -> Self {
        table.add_path(path);
        self.route(path, route)
    }
}
