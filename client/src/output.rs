//! `picket output RUN`: writes a stored run's raw output to stdout byte for byte (the tool's
//! report as it wrote it, or the imported file), so it can be re-parsed, diffed or handed
//! on. Must not decode or re-encode the bytes: no UTF-8 conversion, no trailing newline.

use std::io::Write;

use picket_client::Client;

use crate::failure::Failure;
use crate::render::Out;

pub async fn output(conn: &mut Client, out: Out, run: i64) -> Result<(), Failure> {
    if out.json {
        // Raw bytes have no faithful JSON form short of base64, which is no use to a reader:
        // refused, with where the metadata is.
        return Err(Failure::Usage {
            message: "`picket output` prints raw bytes and has no --json form".into(),
            hint: format!(
                "drop --json to get run {run}'s output byte for byte; `picket show SCAN --json` \
                 gives the run's metadata (its `id` and `output_removed_at`)"
            ),
        });
    }
    let o = conn.output(run).await?;
    if let Some(when) = &o.removed_at {
        return Err(Failure::Local(format!(
            "run {run}'s output ({} bytes, {} on {} in scan {}) was removed by the retention \
             policy at {when} ([retention] days / max_bytes in picketd.toml); its findings \
             are kept",
            o.size, o.tool, o.target, o.scan
        )));
    }
    if !o.stored {
        return Err(Failure::Local(format!(
            "run {run} ({} on {} in scan {}) has no stored output: only runs that succeeded \
             (and imports) keep theirs",
            o.tool, o.target, o.scan
        )));
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&o.bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Local(format!("cannot write the output: {e}")))
}
