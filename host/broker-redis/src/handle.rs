//! [`Handle`]: the shared connection every ordinary command goes through, whatever the
//! deployment. One server and a Sentinel master use one multiplexed, reconnecting socket; a
//! cluster routes each command to its slot's node (which is why every pipeline, `MULTI` and
//! script this crate sends touches one slot: see `keys`). A match per command is all the
//! single-server path pays for the other two.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::sentinel::Failover;

/// A cheap-to-clone handle on the shared connection (clones share the sockets).
#[derive(Clone)]
pub(crate) enum Handle {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Failover),
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Handle::Single(m) => m.req_packed_command(cmd),
            Handle::Cluster(c) => c.req_packed_command(cmd),
            Handle::Sentinel(f) => f.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Handle::Single(m) => m.req_packed_commands(pipeline, offset, count),
            Handle::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Sentinel(f) => f.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Single(m) => m.get_db(),
            Handle::Cluster(c) => c.get_db(),
            Handle::Sentinel(f) => f.get_db(),
        }
    }
}
