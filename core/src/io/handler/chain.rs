//! A namespace's connect middlewares and connect handler, run as one decision.
//!
//! The middlewares run in the order they were added, each only if the one before accepted; the
//! first refusal is the answer. Then the connect handler runs, after the CONNECT acknowledgement
//! when the server always connects ([`crate::ServerBuilder::always_connect`]). All of it runs
//! while the connect gate holds the client's packets: nothing the client sent is handled before
//! the whole chain has accepted.

use std::sync::Arc;

use volley_protocol::Value;

use super::connect::{ConnectFuture, ErasedConnectHandler};
use super::BoxedConnectHandler;
use crate::{ConnectError, Socket};

#[derive(Clone)]
pub(crate) struct ConnectChain {
    pub(crate) middlewares: Arc<[BoxedConnectHandler]>,
    pub(crate) handler: Option<BoxedConnectHandler>,
    pub(crate) always_connect: bool,
}

type Decision = Result<Result<(), ConnectError>, ConnectFuture>;

impl ConnectChain {
    /// Runs the middlewares from `from` on, then the handler; synchronously as long as each step
    /// answers at once.
    fn run_from(&self, from: usize, socket: Socket, auth: Option<Value>) -> Decision {
        for (i, middleware) in self.middlewares.iter().enumerate().skip(from) {
            match middleware.call(socket.clone(), auth.clone()) {
                Ok(Ok(())) => {}
                Ok(Err(refused)) => return Ok(Err(refused)),
                Err(pending) => {
                    let chain = self.clone();
                    return Err(Box::pin(async move {
                        pending.await?;
                        if !socket.connected() {
                            return Err(ConnectError::new("disconnected"));
                        }
                        match chain.run_from(i + 1, socket, auth) {
                            Ok(decision) => decision,
                            Err(rest) => rest.await,
                        }
                    }));
                }
            }
        }
        if self.always_connect {
            // the client hears it is connected now; its packets still wait for the handler
            socket.confirm_early();
        }
        match &self.handler {
            Some(handler) => handler.call(socket, auth),
            None => Ok(Ok(())),
        }
    }
}

impl ErasedConnectHandler for ConnectChain {
    fn call(&self, socket: Socket, auth: Option<Value>) -> Decision {
        self.run_from(0, socket, auth)
    }
}
