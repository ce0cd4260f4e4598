//! The tower `Layer` and `Service` that put a Socket.IO endpoint in front of another app.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, StatusCode};

use super::{Cors, CorsOrigins, NotFound, StaticFiles};
use crate::engine::{Engine, EngineHandler};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type Handle = Arc<dyn Fn(Request<Body>) -> BoxFuture<Response> + Send + Sync>;

/// Serves an Engine.IO / Socket.IO endpoint at its path, then the server's
/// [`StaticFiles`](crate::StaticFiles), and passes every other request to the service it wraps.
/// Made by [`crate::Server::layer`].
///
/// ```
/// use axum::{routing::get, Router};
/// let io = volley::Server::builder().build();
/// let app: Router = Router::new().route("/", get(|| async { "hello" }));
/// // `/socket.io/` goes to Volley, everything else to `app`
/// let app: Router = io.wrap(app);
/// # let _ = app;
/// ```
#[derive(Clone)]
pub struct VolleyLayer {
    path: Arc<str>,
    cors: Arc<Cors>,
    static_files: Option<Arc<StaticFiles>>,
    handle: Handle,
}

impl std::fmt::Debug for VolleyLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolleyLayer")
            .field("path", &self.path)
            .field("static_files", &self.static_files)
            .finish_non_exhaustive()
    }
}

impl VolleyLayer {
    pub(crate) fn new(server: crate::Server) -> Self {
        let engine = server.engine.clone();
        VolleyLayer {
            path: engine.config.path.as_str().into(),
            static_files: server.static_files.clone(),
            cors: server.cors.clone(),
            handle: Arc::new(move |req| Box::pin(engine.clone().handle(req))),
        }
    }

    /// A layer for a bare Engine.IO endpoint (no Socket.IO above it).
    pub fn engine<H: EngineHandler>(engine: Arc<Engine<H>>, origins: CorsOrigins) -> Self {
        VolleyLayer {
            path: engine.config.path.as_str().into(),
            cors: Arc::new(Cors::new(origins)),
            static_files: None,
            handle: Arc::new(move |req| Box::pin(engine.clone().handle(req))),
        }
    }

    /// The endpoint alone: other paths get 404.
    pub fn into_service(self) -> VolleyService {
        VolleyService {
            layer: self,
            inner: NotFound,
        }
    }

    fn matches(&self, path: &str) -> bool {
        path == &*self.path || path == self.path.trim_end_matches('/')
    }
}

impl<S> tower_layer::Layer<S> for VolleyLayer {
    type Service = VolleyService<S>;

    fn layer(&self, inner: S) -> VolleyService<S> {
        VolleyService {
            layer: self.clone(),
            inner,
        }
    }
}

/// The service made by [`VolleyLayer`].
#[derive(Clone)]
pub struct VolleyService<S = NotFound> {
    layer: VolleyLayer,
    inner: S,
}

impl<S> std::fmt::Debug for VolleyService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolleyService")
            .field("path", &self.layer.path)
            .finish_non_exhaustive()
    }
}

fn preflight(req: &Request<Body>) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    res
}

async fn serve(layer: VolleyLayer, req: Request<Body>) -> Response {
    let origin = match layer.cors.check(&req) {
        Ok(origin) => origin,
        Err(e) => return e.into_response(),
    };
    let mut res = if req.method() == Method::OPTIONS {
        preflight(&req)
    } else {
        (layer.handle)(req).await
    };
    if let Some(origin) = origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    res
}

impl<S, B, ResBody> tower_service::Service<Request<B>> for VolleyService<S>
where
    S: tower_service::Service<Request<B>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        if self.layer.matches(req.uri().path()) {
            let layer = self.layer.clone();
            return Box::pin(async move { Ok(serve(layer, req.map(Body::new)).await) });
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if let Some(target) = self
            .layer
            .static_files
            .as_ref()
            .and_then(|f| f.target(&req))
        {
            return Box::pin(async move {
                if let Some(res) = target.serve().await {
                    return Ok(res);
                }
                Ok(inner.call(req).await?.map(Body::new))
            });
        }
        Box::pin(async move { Ok(inner.call(req).await?.map(Body::new)) })
    }
}

/// `axum::serve` takes a `VolleyService` as it is: each connection gets a copy, a few reference
/// counts. (An axum `Router` given to `axum::serve` copies its whole route table for each
/// connection; `Router::into_make_service` avoids that.)
///
/// ```no_run
/// # async fn run(io: volley::Server) -> std::io::Result<()> {
/// let listener = volley::serve::Listener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, io.service()).await
/// # }
/// ```
impl<L, S> tower_service::Service<axum::serve::IncomingStream<'_, L>> for VolleyService<S>
where
    L: axum::serve::Listener,
    S: Clone,
{
    type Response = Self;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, std::convert::Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _connection: axum::serve::IncomingStream<'_, L>) -> Self::Future {
        std::future::ready(Ok(self.clone()))
    }
}
