//! Which namespaces exist: the ones created with `of`, and the children of dynamic namespaces
//! (a name matcher, or the catch-all `*`) created when a client first connects to them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use super::handler::HandlerSet;
use super::namespace::NamespaceInner;
use super::server::SocketIoConfig;
use crate::manager::ClientManager;

/// Decides whether a dynamic namespace accepts a name.
pub(crate) type Matcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

struct Template {
    matcher: Matcher,
    handlers: HandlerSet,
    catch_all: bool,
}

#[derive(Default)]
struct Namespaces {
    fixed: HashMap<String, Arc<NamespaceInner>>,
    templates: Vec<Template>,
    /// Children of templates, alive while one of their sockets is.
    children: HashMap<String, Weak<NamespaceInner>>,
}

/// The namespaces of one server.
pub(crate) struct Registry {
    config: Arc<SocketIoConfig>,
    manager: Arc<dyn ClientManager>,
    nsps: RwLock<Namespaces>,
}

impl Registry {
    pub(crate) fn new(config: Arc<SocketIoConfig>, manager: Arc<dyn ClientManager>) -> Self {
        Registry {
            config,
            manager,
            nsps: RwLock::new(Namespaces::default()),
        }
    }

    fn build(&self, name: String, handlers: HandlerSet, catch_all: bool) -> Arc<NamespaceInner> {
        Arc::new(NamespaceInner::new(
            name,
            self.manager.clone(),
            self.config.clone(),
            handlers,
            catch_all,
        ))
    }

    /// The fixed namespace `name`, created if needed.
    pub(crate) fn fixed(&self, name: &str) -> Arc<NamespaceInner> {
        if let Some(ns) = self.read().fixed.get(name) {
            return ns.clone();
        }
        let mut nsps = self.write();
        if let Some(ns) = nsps.fixed.get(name) {
            return ns.clone();
        }
        let ns = self.build(name.to_owned(), HandlerSet::default(), false);
        nsps.fixed.insert(name.to_owned(), ns.clone());
        ns
    }

    /// Adds a dynamic namespace; its handlers serve every child. Earlier templates are tried
    /// first, and the catch-all `*` after all of them.
    pub(crate) fn template(&self, matcher: Matcher, catch_all: bool) -> Arc<NamespaceInner> {
        let handlers = HandlerSet::default();
        let template = Template {
            matcher,
            handlers: handlers.clone(),
            catch_all,
        };
        let mut nsps = self.write();
        let at = nsps
            .templates
            .iter()
            .position(|t| t.catch_all)
            .unwrap_or(nsps.templates.len());
        let at = if catch_all { nsps.templates.len() } else { at };
        nsps.templates.insert(at, template);
        let label = if catch_all { "*" } else { "(dynamic)" };
        self.build(label.to_owned(), handlers, catch_all)
    }

    /// The catch-all namespace `*`, created if needed.
    pub(crate) fn catch_all(&self) -> Arc<NamespaceInner> {
        let existing = self
            .read()
            .templates
            .iter()
            .find(|t| t.catch_all)
            .map(|t| t.handlers.clone());
        match existing {
            Some(handlers) => self.build("*".to_owned(), handlers, true),
            None => self.template(Arc::new(|_| true), true),
        }
    }

    /// The namespace a client asks to connect to, if it exists or a dynamic namespace accepts it.
    pub(crate) fn for_connect(&self, name: &str) -> Option<Arc<NamespaceInner>> {
        {
            let nsps = self.read();
            if let Some(ns) = nsps.fixed.get(name) {
                // A fixed namespace made only to emit to (`of(name)` without handlers) does not
                // hide a dynamic namespace that serves the name.
                let dynamic = ns.handlers.is_empty()
                    && nsps
                        .templates
                        .iter()
                        .any(|t| !t.catch_all && (t.matcher)(name));
                if !dynamic {
                    return Some(ns.clone());
                }
            }
            if let Some(ns) = nsps.children.get(name).and_then(Weak::upgrade) {
                return Some(ns);
            }
            if nsps.templates.is_empty() {
                return None;
            }
        }
        let mut nsps = self.write();
        if let Some(ns) = nsps.children.get(name).and_then(Weak::upgrade) {
            return Some(ns);
        }
        let template = nsps.templates.iter().find(|t| (t.matcher)(name))?;
        let ns = self.build(
            name.to_owned(),
            template.handlers.clone(),
            template.catch_all,
        );
        if nsps.children.len() >= 64 && nsps.children.len().is_power_of_two() {
            nsps.children.retain(|_, w| w.strong_count() > 0);
        }
        nsps.children.insert(name.to_owned(), Arc::downgrade(&ns));
        Some(ns)
    }

    /// Every namespace clients can be in now: the fixed ones and the live children of dynamic
    /// namespaces (not the templates themselves).
    pub(crate) fn all(&self) -> Vec<Arc<NamespaceInner>> {
        let nsps = self.read();
        let children = nsps.children.values().filter_map(Weak::upgrade);
        nsps.fixed.values().cloned().chain(children).collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Namespaces> {
        match self.nsps.read() {
            Ok(n) => n,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Namespaces> {
        match self.nsps.write() {
            Ok(n) => n,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
