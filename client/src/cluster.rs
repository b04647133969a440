//! `picket cluster`: the cluster's nodes, streams and dead letters, as a table for people
//! or one `--json` document (schemas/cluster.json). Must not decide what is healthy: it
//! shows figures, and the daemon's Redis is what they come from.

use picket_client::Client;
use picket_protocol::ClusterReport;

use crate::failure::Failure;
use crate::render::{print_json, Out};

pub async fn show(conn: &mut Client, out: Out) -> Result<(), Failure> {
    let report = conn.cluster().await?;
    if out.json {
        print_json(&report);
    } else {
        print_human(&report);
    }
    Ok(())
}

fn print_human(r: &ClusterReport) {
    println!("cluster seen by node {} (redis {})", r.node_id, r.redis);
    println!(
        "\n{:<20} {:<20} {:<10} {:>8} {:>9} {:>10}",
        "node", "roles", "version", "protocol", "in flight", "heartbeat"
    );
    for n in &r.nodes {
        println!(
            "{:<20} {:<20} {:<10} {:>8} {:>9} {:>8.1}s ago",
            n.node_id,
            n.roles.join(","),
            n.version,
            n.protocol_version,
            n.runs_in_flight,
            n.heartbeat_age_ms as f64 / 1000.0
        );
    }
    println!(
        "\n{:<32} {:<8} {:>8} {:>8} {:>8}",
        "stream", "group", "length", "pending", "lag"
    );
    for s in &r.streams {
        let lag = s.lag.map_or("?".to_string(), |l| l.to_string());
        println!(
            "{:<32} {:<8} {:>8} {:>8} {:>8}",
            s.stream, s.group, s.length, s.pending, lag
        );
    }
    println!("\ndead letters: {} (picket:dead)", r.dead_letters);
}
