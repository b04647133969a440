//! The escape sensor itself: silent while nothing leaves loopback, and moved by a single
//! connect attempt to its range. The scope tests rely on both halves.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use picket_testkit::Sensor;

#[test]
fn a_connect_to_the_sensor_range_moves_its_counter_and_loopback_does_not() {
    let sensor = Sensor::new();
    let before = sensor.tx_packets();
    let _ = TcpStream::connect_timeout(
        &"127.0.0.1:9".parse::<SocketAddr>().unwrap(),
        Duration::from_millis(200),
    );
    assert_eq!(
        sensor.tx_packets(),
        before,
        "loopback traffic moved the sensor"
    );
    let target: SocketAddr = format!("{}:80", sensor.address()).parse().unwrap();
    let attempt = TcpStream::connect_timeout(&target, Duration::from_millis(500));
    assert!(
        attempt.is_err(),
        "nothing should answer on the sensor's range"
    );
    assert!(
        sensor.tx_packets() > before,
        "a connect to {target} did not move the sensor's TX counter"
    );
}
