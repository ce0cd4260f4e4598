//! Plain files served over HTTP next to the Socket.IO endpoint (the page that loads the client,
//! its scripts and styles), mapped from URLs to files and folders.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, Method, Request, StatusCode};
use tokio::io::AsyncReadExt;
use tokio_util::io::ReaderStream;

/// Files up to this size are read in one go; larger ones are streamed.
const INLINE_LIMIT: u64 = 8 * 1024 * 1024;

const OCTET_STREAM: &str = "application/octet-stream";

/// URL-to-file mappings served by the Socket.IO layer, set with
/// [`crate::ServerBuilder::static_files`].
///
/// - [`StaticFiles::file`] maps one URL to one file.
/// - [`StaticFiles::dir`] maps a URL prefix to a folder: the rest of the path, below the prefix,
///   names a file inside the folder. When several prefixes match, the longest wins; an exact
///   [`StaticFiles::file`] mapping wins over every prefix.
/// - A URL ending in `/` inside a folder mapping gets [`StaticFiles::default_file`] appended
///   (`index.html` unless changed).
///
/// The content type follows the file's extension: `html` `text/html`, `css` `text/css`, `js`
/// `application/javascript`, `json` `application/json`, `jpg` `image/jpeg`, `png` `image/png`,
/// `gif` `image/gif`, `txt` `text/plain`, anything else `application/octet-stream`; one given with
/// [`StaticFiles::file_with_type`] wins.
///
/// Only `GET` and `HEAD` are served. A request the mappings do not cover, for a file that does not
/// exist, with another method, or whose path would leave its folder (`..` segments, encoded `/`,
/// `\`, NUL, or a symlink that points outside the folder) is passed on to the wrapped app, or gets
/// 404 when there is none. The Socket.IO path is always answered by Socket.IO first.
///
/// ```
/// use volley::StaticFiles;
/// let files = StaticFiles::new()
///     .file("/", "public/index.html")
///     .file_with_type("/data", "public/data.bin", "application/x-thing")
///     .dir("/static", "public")
///     .default_file("index.html");
/// let io = volley::Server::builder().static_files(files).build();
/// # let _ = io;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct StaticFiles {
    files: HashMap<String, FileMapping>,
    /// Longest prefix first.
    dirs: Vec<DirMapping>,
    default_file: String,
}

#[derive(Debug, Clone)]
struct FileMapping {
    path: PathBuf,
    content_type: Option<HeaderValue>,
}

#[derive(Debug, Clone)]
struct DirMapping {
    /// Starts with `/` and has no trailing `/`; empty for the root.
    prefix: String,
    root: PathBuf,
}

impl Default for StaticFiles {
    fn default() -> Self {
        StaticFiles {
            files: HashMap::new(),
            dirs: Vec::new(),
            default_file: "index.html".to_owned(),
        }
    }
}

impl StaticFiles {
    /// No mapping yet; the default file is `index.html`.
    ///
    /// ```
    /// let files = volley::StaticFiles::new();
    /// # let _ = files;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves the file at `path` for the URL path `url` exactly (the query string is ignored).
    /// `url` is matched as sent, percent-encoded.
    ///
    /// ```
    /// let files = volley::StaticFiles::new().file("/", "public/index.html");
    /// # let _ = files;
    /// ```
    pub fn file(mut self, url: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let mapping = FileMapping {
            path: path.into(),
            content_type: None,
        };
        self.files.insert(leading_slash(url.into()), mapping);
        self
    }

    /// Like [`StaticFiles::file`], sent with the given `Content-Type` whatever its extension. A
    /// content type that is not a valid header value is replaced by `application/octet-stream`.
    ///
    /// ```
    /// let files = volley::StaticFiles::new()
    ///     .file_with_type("/data", "public/data.bin", "application/x-thing");
    /// # let _ = files;
    /// ```
    pub fn file_with_type(
        mut self,
        url: impl Into<String>,
        path: impl Into<PathBuf>,
        content_type: impl AsRef<str>,
    ) -> Self {
        let content_type = HeaderValue::from_str(content_type.as_ref()).unwrap_or_else(|_| {
            tracing::warn!(
                target: "volley::engine",
                content_type = content_type.as_ref(),
                "invalid static file content type, using application/octet-stream"
            );
            HeaderValue::from_static(OCTET_STREAM)
        });
        let mapping = FileMapping {
            path: path.into(),
            content_type: Some(content_type),
        };
        self.files.insert(leading_slash(url.into()), mapping);
        self
    }

    /// Serves the folder `path` under the URL prefix `prefix`: `/static/js/app.js` is
    /// `path/js/app.js` for the prefix `/static`. `prefix` matches whole path segments (`/static`
    /// does not cover `/statics`); a trailing `/` on it is ignored, and `/` covers every URL.
    ///
    /// ```
    /// let files = volley::StaticFiles::new()
    ///     .dir("/", "public")
    ///     .dir("/static", "assets"); // longer prefix: wins for /static/...
    /// # let _ = files;
    /// ```
    pub fn dir(mut self, prefix: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        let prefix = leading_slash(prefix.into())
            .trim_end_matches('/')
            .to_owned();
        self.dirs.retain(|d| d.prefix != prefix);
        self.dirs.push(DirMapping {
            prefix,
            root: path.into(),
        });
        self.dirs.sort_by_key(|d| std::cmp::Reverse(d.prefix.len()));
        self
    }

    /// The file served for a URL ending in `/` inside a [`StaticFiles::dir`] mapping (default
    /// `index.html`). An empty name serves nothing for such URLs.
    ///
    /// ```
    /// let files = volley::StaticFiles::new()
    ///     .dir("/docs", "site")
    ///     .default_file("home.html"); // `/docs/` serves `site/home.html`
    /// # let _ = files;
    /// ```
    pub fn default_file(mut self, name: impl Into<String>) -> Self {
        self.default_file = name.into();
        self
    }

    /// The file `req` asks for, if a mapping covers it; no file system access.
    pub(crate) fn target<B>(&self, req: &Request<B>) -> Option<Target> {
        let head = match *req.method() {
            Method::GET => false,
            Method::HEAD => true,
            _ => return None,
        };
        self.resolve(req.uri().path()).map(|mut t| {
            t.head = head;
            t
        })
    }

    fn resolve(&self, path: &str) -> Option<Target> {
        if !path.starts_with('/') {
            return None;
        }
        if let Some(file) = self.files.get(path) {
            return Some(Target {
                content_type: file
                    .content_type
                    .clone()
                    .unwrap_or_else(|| content_type_for(&file.path)),
                path: file.path.clone(),
                root: None,
                head: false,
            });
        }
        let dir = self.dirs.iter().find(|d| {
            path.strip_prefix(d.prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })?;
        let rest = &path[dir.prefix.len()..];
        let Some(mut relative) = safe_relative(rest) else {
            tracing::debug!(target: "volley::engine", path, "static file path refused");
            return None;
        };
        if rest.ends_with('/') {
            if self.default_file.is_empty() {
                return None;
            }
            relative.push(&self.default_file);
        } else if relative.as_os_str().is_empty() {
            // the folder itself, without a trailing `/`
            return None;
        }
        let path = dir.root.join(relative);
        Some(Target {
            content_type: content_type_for(&path),
            path,
            root: Some(dir.root.clone()),
            head: false,
        })
    }
}

/// One file a request maps to, not yet looked up on disk.
#[derive(Debug)]
pub(crate) struct Target {
    path: PathBuf,
    /// The mapped folder, which the file must stay in; `None` for an exact file mapping.
    root: Option<PathBuf>,
    content_type: HeaderValue,
    head: bool,
}

impl Target {
    /// The response, or `None` when there is no such file (the request then goes on).
    pub(crate) async fn serve(self) -> Option<Response> {
        let path = match &self.root {
            None => self.path.clone(),
            Some(root) => {
                let root = tokio::fs::canonicalize(root).await.ok()?;
                let real = tokio::fs::canonicalize(&self.path).await.ok()?;
                if !real.starts_with(&root) {
                    tracing::debug!(
                        target: "volley::engine",
                        path = %self.path.display(),
                        "static file outside its folder refused"
                    );
                    return None;
                }
                real
            }
        };
        // checked before opening: opening a FIFO would block
        if !tokio::fs::metadata(&path).await.ok()?.is_file() {
            return None;
        }
        let file = tokio::fs::File::open(&path).await.ok()?;
        let len = file.metadata().await.ok()?.len();
        let body = if self.head {
            Body::empty()
        } else if len <= INLINE_LIMIT {
            let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
            if let Err(e) = file.take(len).read_to_end(&mut bytes).await {
                tracing::warn!(
                    target: "volley::engine",
                    path = %path.display(),
                    error = %e,
                    "static file read failed"
                );
                return Some(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
            Body::from(bytes)
        } else {
            // at most the announced length, even if the file grows meanwhile
            Body::from_stream(ReaderStream::new(file.take(len)))
        };
        let mut res = Response::new(body);
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, self.content_type);
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        Some(res)
    }
}

fn leading_slash(mut url: String) -> String {
    if !url.starts_with('/') {
        url.insert(0, '/');
    }
    url
}

/// The content type of a file, from its extension.
fn content_type_for(path: &Path) -> HeaderValue {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    HeaderValue::from_static(match ext.as_str() {
        "html" => "text/html",
        "css" => "text/css",
        "js" => "application/javascript",
        "json" => "application/json",
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "txt" => "text/plain",
        _ => OCTET_STREAM,
    })
}

/// The relative file path named by the percent-encoded URL path `rest`, or `None` when a
/// segment could climb out of the folder or is not a plain name.
fn safe_relative(rest: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for raw in rest.split('/').filter(|s| !s.is_empty()) {
        let segment = percent_decode(raw)?;
        if segment.contains(['/', '\\', '\0', ':']) {
            return None;
        }
        let mut components = Path::new(&segment).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) if name == OsStr::new(&segment) => out.push(name),
            _ => return None,
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes; `None` for a malformed escape or bytes that are not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    fn hex(b: u8) -> Option<u8> {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
