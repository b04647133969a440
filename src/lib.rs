//! End-to-end suite package: see tests/ and benches/.
