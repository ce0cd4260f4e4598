//! What the kernel counted on the load generator's own TCP connections, read with `ss` (socket
//! statistics, over netlink): how many packets carried what a server sent.
//!
//! A server that writes several messages to a client in one system call sends them in one
//! packet; one that writes each on its own sends a packet each, and on loopback every packet
//! costs the sender the kernel's whole path, the receiving side's included. The count of data
//! packets (`data_segs_in`) the clients received, per message they read, shows which.

use std::io;
use std::net::SocketAddr;

/// Data packets (TCP segments carrying data) received by the established connections to
/// `127.0.0.1:port` on this machine, leaving out the one from the local address `except`.
///
/// # Errors
///
/// When `ss` (iproute2) cannot be run or fails.
pub async fn data_segments_in(port: u16, except: Option<SocketAddr>) -> io::Result<u64> {
    Ok(sum_data_segs_in(&ss_info(port, except).await?))
}

/// TCP payload bytes received by the same connections as [`data_segments_in`] (the kernel's
/// `bytes_received`): what a server sent them, framing included.
///
/// # Errors
///
/// When `ss` (iproute2) cannot be run or fails.
pub async fn bytes_received(port: u16, except: Option<SocketAddr>) -> io::Result<u64> {
    Ok(sum_field(&ss_info(port, except).await?, "bytes_received:"))
}

/// `ss -ti` of the established connections to `127.0.0.1:port`, less the one from `except`.
async fn ss_info(port: u16, except: Option<SocketAddr>) -> io::Result<String> {
    let mut filter = format!("( dst 127.0.0.1:{port}");
    if let Some(local) = except {
        filter.push_str(&format!(" and not src {local}"));
    }
    filter.push_str(" )");
    let out = tokio::process::Command::new("ss")
        .args(["-tinH", "state", "established", &filter])
        .output()
        .await?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "ss failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The sum of every `<field><n>` in `ss -i` output (`field` with its colon).
fn sum_field(ss: &str, field: &str) -> u64 {
    ss.split_ascii_whitespace()
        .filter_map(|word| word.strip_prefix(field))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// The sum of every `data_segs_in:<n>` in `ss -i` output.
pub fn sum_data_segs_in(ss: &str) -> u64 {
    sum_field(ss, "data_segs_in:")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_data_segments_of_every_connection() {
        let ss = "0 0 127.0.0.1:50224 127.0.0.1:3100\n\t bbr wscale:10,10 rto:204 \
                  segs_out:4 segs_in:3 data_segs_out:1 data_segs_in:7 lastsnd:808\n\
                  0 0 127.0.0.1:50226 127.0.0.1:3100\n\t cubic segs_in:9 data_segs_in:5\n";
        assert_eq!(sum_data_segs_in(ss), 12);
        assert_eq!(sum_data_segs_in(""), 0);
    }

    #[tokio::test]
    async fn counts_what_a_local_connection_received() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        client.set_nodelay(true).unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        server.set_nodelay(true).unwrap();
        let mut buf = [0u8; 8];
        for _ in 0..3 {
            // one write, read before the next: a packet each
            server.write_all(b"hi").await.unwrap();
            client.read_exact(&mut buf[..2]).await.unwrap();
        }
        assert_eq!(data_segments_in(port, None).await.unwrap(), 3);
        assert_eq!(bytes_received(port, None).await.unwrap(), 6);
        let local = client.local_addr().unwrap();
        assert_eq!(data_segments_in(port, Some(local)).await.unwrap(), 0);
    }
}
