//! Brokers a test owns: started on a free loopback port, killed and restarted by the test,
//! stopped when dropped.

pub mod rabbitmq;
pub mod tansu;
