//! The two channels the cluster manager subscribes to, as the Node-protocol wires find them: the
//! channel of every node (`{prefix}#`) and this node's own (`{prefix}#{uid}#`), whose name gives
//! the node's uid. Both wires (streams and pub/sub) translate what the manager publishes there.

use volley_cluster::Subscription;

/// The manager's two channels: every node's (delivered on) and this node's own (naming its uid).
pub(crate) fn manager_channels(subscriptions: &[Subscription]) -> Option<(String, String)> {
    let channels: Vec<&str> = subscriptions
        .iter()
        .filter_map(|s| match s {
            Subscription::Channel(c) => Some(c.as_str()),
            Subscription::Prefix(_) => None,
        })
        .collect();
    channels.iter().find_map(|main| {
        channels.iter().find_map(|own| {
            let uid = own.strip_prefix(main)?.strip_suffix('#')?;
            (!uid.is_empty()).then(|| (main.to_string(), uid.to_owned()))
        })
    })
}

/// The uid in a node channel of the manager's, `{prefix}#{uid}#`.
pub(crate) fn target_uid(channel: &str) -> Option<&str> {
    let uid = channel.strip_suffix('#')?.rsplit('#').next()?;
    (!uid.is_empty()).then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_managers_channels() {
        let subs = [
            Subscription::Channel("volley#".into()),
            Subscription::Channel("volley#abc#".into()),
            Subscription::Prefix("socket.io#".into()),
        ];
        assert_eq!(
            manager_channels(&subs),
            Some(("volley#".into(), "abc".into()))
        );
        assert_eq!(manager_channels(&subs[..1]), None);
        assert_eq!(target_uid("volley#abc#"), Some("abc"));
        assert_eq!(target_uid("volley##"), None);
    }
}
