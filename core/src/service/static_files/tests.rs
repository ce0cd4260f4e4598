#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::Server;

/// A folder under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "volley-static-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `root/public/...` (served) next to `root/secret` (not served).
fn site(tag: &str) -> (TempDir, PathBuf) {
    let tmp = TempDir::new(tag);
    tmp.write("secret", "TOP SECRET");
    tmp.write("public/index.html", "<h1>index</h1>");
    tmp.write("public/home.htm", "home");
    tmp.write("public/app.js", "app();");
    tmp.write("public/style.css", "body{}");
    tmp.write("public/data.json", "{}");
    tmp.write("public/photo.jpg", "jpg");
    tmp.write("public/logo.png", "png");
    tmp.write("public/anim.gif", "gif");
    tmp.write("public/notes.txt", "notes");
    tmp.write("public/blob.xyz", "xyz");
    tmp.write("public/noext", "noext");
    tmp.write("public/data.bin", "bin");
    tmp.write("public/sub/index.html", "sub index");
    tmp.write("public/sub/home.htm", "sub home");
    tmp.write("public/a/b.txt", "b");
    let public = tmp.0.join("public");
    (tmp, public)
}

async fn send(app: Router, method: Method, uri: &str) -> (StatusCode, Option<String>, Bytes) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let res = app.oneshot(req).await.unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, ct, body)
}

async fn get_(app: &Router, uri: &str) -> (StatusCode, Option<String>, Bytes) {
    send(app.clone(), Method::GET, uri).await
}

fn router(files: StaticFiles) -> Router {
    Server::builder().static_files(files).build().router()
}

fn app() -> Router {
    Router::new()
        .route("/api", get(|| async { "api" }))
        .fallback(|| async { (StatusCode::IM_A_TEAPOT, "app fallback") })
}

#[tokio::test]
async fn static_exact_file() {
    let (_tmp, public) = site("exact");
    let io = router(StaticFiles::new().file("/", public.join("index.html")));
    let (status, ct, body) = get_(&io, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct.as_deref(), Some("text/html"));
    assert_eq!(body, "<h1>index</h1>");
    // the query string does not matter
    assert_eq!(get_(&io, "/?x=1").await.2, "<h1>index</h1>");
    // exact only: not a prefix
    assert_eq!(get_(&io, "/index.html").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_(&io, "/x").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn static_exact_file_wins_over_dir() {
    let (_tmp, public) = site("exact-dir");
    let io = router(
        StaticFiles::new()
            .dir("/", &public)
            .file("/app.js", public.join("notes.txt")),
    );
    let (status, ct, body) = get_(&io, "/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct.as_deref(), Some("text/plain"));
    assert_eq!(body, "notes");
}

#[tokio::test]
async fn static_dir_mapping() {
    let (_tmp, public) = site("dir");
    let io = router(StaticFiles::new().dir("/static", &public));
    let (status, ct, body) = get_(&io, "/static/app.js").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct.as_deref(), Some("application/javascript"));
    assert_eq!(body, "app();");
    assert_eq!(get_(&io, "/static/sub/home.htm").await.2, "sub home");
    // `//` is one separator
    assert_eq!(get_(&io, "/static//sub//home.htm").await.2, "sub home");
    // percent-encoded names are decoded
    assert_eq!(get_(&io, "/static/%61pp.js").await.2, "app();");
    // whole segments only
    assert_eq!(get_(&io, "/staticx/app.js").await.0, StatusCode::NOT_FOUND);
    // the folder itself, a sub folder, a missing file
    assert_eq!(get_(&io, "/static").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_(&io, "/static/sub").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get_(&io, "/static/missing.js").await.0,
        StatusCode::NOT_FOUND
    );
    // a trailing `/` on the prefix is the same mapping
    let io = router(StaticFiles::new().dir("/static/", &public));
    assert_eq!(get_(&io, "/static/app.js").await.2, "app();");
}

#[tokio::test]
async fn static_longest_prefix_wins() {
    let (tmp, public) = site("longest");
    tmp.write("other/app.js", "other();");
    let io = router(
        StaticFiles::new()
            .dir("/", &public)
            .dir("/static/js", tmp.0.join("other"))
            .dir("/static", &public),
    );
    assert_eq!(get_(&io, "/static/js/app.js").await.2, "other();");
    assert_eq!(get_(&io, "/static/app.js").await.2, "app();");
    assert_eq!(get_(&io, "/app.js").await.2, "app();");
    // no fallback to a shorter prefix when the longest has no such file
    assert_eq!(
        get_(&io, "/static/js/style.css").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn static_default_file() {
    let (_tmp, public) = site("default");
    let io = router(StaticFiles::new().dir("/", &public));
    let (status, ct, body) = get_(&io, "/").await;
    assert_eq!((status, ct.as_deref()), (StatusCode::OK, Some("text/html")));
    assert_eq!(body, "<h1>index</h1>");
    assert_eq!(get_(&io, "/sub/").await.2, "sub index");

    let io = router(
        StaticFiles::new()
            .dir("/site", &public)
            .default_file("home.htm"),
    );
    let (status, ct, body) = get_(&io, "/site/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct.as_deref(), Some(OCTET_STREAM));
    assert_eq!(body, "home");
    assert_eq!(get_(&io, "/site/sub/").await.2, "sub home");
    // a folder without the default file
    assert_eq!(get_(&io, "/site/a/").await.0, StatusCode::NOT_FOUND);

    let io = router(StaticFiles::new().dir("/", &public).default_file(""));
    assert_eq!(get_(&io, "/").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get_(&io, "/app.js").await.0, StatusCode::OK);
}

#[tokio::test]
async fn static_explicit_content_type() {
    let (_tmp, public) = site("ctype");
    let io = router(
        StaticFiles::new()
            .file_with_type("/data", public.join("data.bin"), "application/x-thing")
            .file_with_type("/page", public.join("index.html"), "text/plain")
            .file_with_type("/bad", public.join("index.html"), "bad\nvalue"),
    );
    let (status, ct, body) = get_(&io, "/data").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct.as_deref(), Some("application/x-thing"));
    assert_eq!(body, "bin");
    assert_eq!(get_(&io, "/page").await.1.as_deref(), Some("text/plain"));
    assert_eq!(get_(&io, "/bad").await.1.as_deref(), Some(OCTET_STREAM));
}

#[tokio::test]
async fn static_content_types() {
    let (_tmp, public) = site("types");
    let io = router(StaticFiles::new().dir("/", &public));
    for (file, ct) in [
        ("index.html", "text/html"),
        ("style.css", "text/css"),
        ("app.js", "application/javascript"),
        ("data.json", "application/json"),
        ("photo.jpg", "image/jpeg"),
        ("logo.png", "image/png"),
        ("anim.gif", "image/gif"),
        ("notes.txt", "text/plain"),
        ("home.htm", OCTET_STREAM),
        ("blob.xyz", OCTET_STREAM),
        ("noext", OCTET_STREAM),
        ("data.bin", OCTET_STREAM),
    ] {
        let (status, got, _) = get_(&io, &format!("/{file}")).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert_eq!(got.as_deref(), Some(ct), "{file}");
    }
    assert_eq!(content_type_for(Path::new("A.HTML")), "text/html");
    assert_eq!(content_type_for(Path::new("dir.js/file")), OCTET_STREAM);
}

#[tokio::test]
async fn static_traversal_refused() {
    let (tmp, public) = site("traversal");
    tmp.write("public/..secret", "dots in a name are fine");
    let io = router(StaticFiles::new().dir("/static", &public));
    // the mapping does reach files
    assert_eq!(get_(&io, "/static/a/b.txt").await.0, StatusCode::OK);
    assert_eq!(
        get_(&io, "/static/..secret").await.2,
        "dots in a name are fine"
    );
    for uri in [
        "/static/../secret",
        "/static/%2e%2e/secret",
        "/static/%2E%2E/secret",
        "/static/.%2e/secret",
        "/static/..%2fsecret",
        "/static/..%2Fsecret",
        "/static/a/../../secret",
        "/static/a/%2e%2e/%2e%2e/secret",
        "/static/./a/b.txt",
        "/static/..%5csecret",
        "/static/%2fetc%2fpasswd",
        "/static/secret%00.txt",
        "/static/c:%5cwindows",
        "/static/%zz",
        "/static/%ff",
    ] {
        let (status, _, body) = get_(&io, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_ne!(body, "TOP SECRET", "{uri}");
    }
}

#[test]
fn static_safe_relative() {
    assert_eq!(safe_relative("/a/b.txt"), Some(PathBuf::from("a/b.txt")));
    assert_eq!(safe_relative("/"), Some(PathBuf::new()));
    assert_eq!(safe_relative("/a%20b"), Some(PathBuf::from("a b")));
    for bad in [
        "/..", "/.", "/a/../b", "/%2e%2e", "/%2e", "/a%2fb", "/a\\b", "/a%5cb", "/a%00", "/c:",
        "/C%3a%5c", "/%", "/%4", "/%g0", "/%c3%28",
    ] {
        assert_eq!(safe_relative(bad), None, "{bad}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn static_symlinks() {
    let (tmp, public) = site("symlink");
    std::os::unix::fs::symlink(tmp.0.join("secret"), public.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(&tmp.0, public.join("up")).unwrap();
    std::os::unix::fs::symlink(public.join("app.js"), public.join("alias.js")).unwrap();
    let io = router(StaticFiles::new().dir("/static", &public));
    for uri in ["/static/leak.txt", "/static/up/secret"] {
        let (status, _, body) = get_(&io, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_ne!(body, "TOP SECRET", "{uri}");
    }
    // a link that stays inside the folder is served
    assert_eq!(get_(&io, "/static/alias.js").await.2, "app();");
    // what counts is where the link resolves to: out and back in is inside
    assert_eq!(get_(&io, "/static/up/public/app.js").await.2, "app();");
    // the folder itself may be a link
    let linked = tmp.0.join("linked");
    std::os::unix::fs::symlink(&public, &linked).unwrap();
    let io = router(StaticFiles::new().dir("/static", &linked));
    assert_eq!(get_(&io, "/static/app.js").await.2, "app();");
}

#[tokio::test]
async fn static_socketio_path_first() {
    let (tmp, public) = site("precedence");
    tmp.write("public/socket.io/index.html", "shadow");
    let io = router(StaticFiles::new().dir("/", &public));
    let (status, _, body) = get_(&io, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with(b"0{"), "{body:?}");
    assert_eq!(get_(&io, "/socket.io/").await.0, StatusCode::BAD_REQUEST);
    // static files still answer the rest
    assert_eq!(get_(&io, "/").await.2, "<h1>index</h1>");
}

#[tokio::test]
async fn static_falls_through_to_wrapped_app() {
    let (_tmp, public) = site("wrap");
    let io = Server::builder()
        .static_files(
            StaticFiles::new()
                .file("/", public.join("index.html"))
                .dir("/static", &public),
        )
        .build();
    let app = io.wrap(app());
    assert_eq!(get_(&app, "/").await.2, "<h1>index</h1>");
    assert_eq!(get_(&app, "/static/app.js").await.2, "app();");
    assert_eq!(get_(&app, "/api").await.2, "api");
    // not mapped, missing, refused, or another method: the app answers
    for uri in ["/other", "/static/missing.js", "/static/../secret"] {
        let (status, _, body) = get_(&app, uri).await;
        assert_eq!(status, StatusCode::IM_A_TEAPOT, "{uri}");
        assert_eq!(body, "app fallback", "{uri}");
    }
    let (status, _, _) = send(app.clone(), Method::POST, "/static/app.js").await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    // without an app: 404
    let alone = io.router();
    assert_eq!(get_(&alone, "/static/app.js").await.2, "app();");
    assert_eq!(get_(&alone, "/other").await.0, StatusCode::NOT_FOUND);
    let (status, _, _) = send(alone, Method::POST, "/static/app.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn static_head() {
    let (_tmp, public) = site("head");
    let io = router(StaticFiles::new().dir("/", &public));
    let req = Request::builder()
        .method(Method::HEAD)
        .uri("/app.js")
        .body(Body::empty())
        .unwrap();
    let res = io.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_LENGTH], "6");
    assert_eq!(
        res.headers()[header::CONTENT_TYPE],
        "application/javascript"
    );
    assert!(res
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .is_empty());
}

#[tokio::test]
async fn static_large_file_streamed() {
    let tmp = TempDir::new("large");
    let len = usize::try_from(INLINE_LIMIT).unwrap() + 123_457;
    let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    tmp.write("big.bin", &content);
    let io = router(StaticFiles::new().file("/big", tmp.0.join("big.bin")));
    let req = Request::builder().uri("/big").body(Body::empty()).unwrap();
    let res = io.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[header::CONTENT_LENGTH],
        len.to_string().as_str()
    );
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), len);
    assert!(body == content);
}
