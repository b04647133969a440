//! Answers of any size: an answer whose encoding would not fit comfortably in one frame is
//! cut into `Response::Part`s that carry the leading items, followed by the answer's usual
//! variant with the rest (here: an empty remainder). The reader puts the items of the parts
//! in front of the final answer's, in the order they came, and has the same value back.
//!
//! Why parts then the usual variant, and no `End`: a small answer stays one frame exactly as
//! in protocol 2, and "anything but an `Event` or a `Part` ends a request" stays the one rule
//! a client needs to match answers to requests. Must not do I/O nor pick the budget of a
//! connection: the daemon passes the budget, the client does the reassembly.

use serde::{Deserialize, Serialize};

use crate::messages::{Response, ScanProgress};
use crate::model::{Finding, Host, ScanSummary, Service, ToolRun};

/// Target encoded size of one part: well under the 16 MiB default cap, so a part plus its
/// frame header never comes near it, and small enough that neither side holds much more
/// than the whole answer while cutting or joining it.
pub const PART_BUDGET: usize = 1024 * 1024;

/// The leading items of one list of a big answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AnswerPart {
    /// `ScanDetail::tool_runs` of a `Response::Scan`.
    ToolRuns(Vec<ToolRun>),
    /// `ScanDetail::services` of a `Response::Scan`.
    Services(Vec<Service>),
    /// `ScanDetail::findings` of a `Response::Scan`, or `FindingPage::findings`.
    Findings(Vec<Finding>),
    /// The scans of a `Response::Status`.
    Progress(Vec<ScanProgress>),
    /// `ScanPage::scans` of a `Response::Scans`.
    Scans(Vec<ScanSummary>),
    /// `ScanDetail::hosts` of a `Response::Scan` (last, so the tags above keep their
    /// numbers).
    Hosts(Vec<Host>),
    /// Leading bytes of `RunOutput::bytes` of a `Response::Output` (protocol 6).
    OutputBytes(Vec<u8>),
}

/// The bytes `value` takes encoded as in a frame payload, counted without building it.
pub fn encoded_len<T: Serialize>(value: &T) -> usize {
    let mut size = bincode::enc::write::SizeWriter::default();
    match bincode::serde::encode_into_writer(value, &mut size, bincode::config::standard()) {
        Ok(()) => size.bytes_written,
        // Not encodable at all: the frame encoder will say why; never cut it.
        Err(_) => 0,
    }
}

/// `response` as the frames to send: itself when it encodes within `budget`, else its
/// lists cut into parts of about `budget` bytes each, then the response with those lists
/// emptied. One item larger than `budget` gets a part to itself.
pub fn split_answer(response: Response, budget: usize) -> Vec<Response> {
    if encoded_len(&response) <= budget {
        return vec![response];
    }
    let mut out = Vec::new();
    let last = match response {
        Response::Scan(mut d) => {
            parts(
                &mut out,
                std::mem::take(&mut d.tool_runs),
                budget,
                AnswerPart::ToolRuns,
            );
            parts(
                &mut out,
                std::mem::take(&mut d.hosts),
                budget,
                AnswerPart::Hosts,
            );
            parts(
                &mut out,
                std::mem::take(&mut d.services),
                budget,
                AnswerPart::Services,
            );
            parts(
                &mut out,
                std::mem::take(&mut d.findings),
                budget,
                AnswerPart::Findings,
            );
            Response::Scan(d)
        }
        Response::Status(v) => {
            parts(&mut out, v, budget, AnswerPart::Progress);
            Response::Status(Vec::new())
        }
        Response::Scans(mut page) => {
            parts(
                &mut out,
                std::mem::take(&mut page.scans),
                budget,
                AnswerPart::Scans,
            );
            Response::Scans(page)
        }
        Response::Findings(mut page) => {
            let items = std::mem::take(&mut page.findings);
            parts(&mut out, items, budget, AnswerPart::Findings);
            Response::Findings(page)
        }
        Response::Output(mut o) => {
            let bytes = std::mem::take(&mut o.bytes);
            for chunk in bytes.chunks(budget.max(1)) {
                out.push(Response::Part(AnswerPart::OutputBytes(chunk.to_vec())));
            }
            Response::Output(o)
        }
        // Nothing else holds a list that grows with stored data.
        other => other,
    };
    out.push(last);
    out
}

/// Appends `items` to `out` as parts of about `budget` encoded bytes each, in order.
fn parts<T: Serialize>(
    out: &mut Vec<Response>,
    items: Vec<T>,
    budget: usize,
    wrap: fn(Vec<T>) -> AnswerPart,
) {
    let mut chunk = Vec::new();
    let mut size = 0;
    for item in items {
        let len = encoded_len(&item);
        if !chunk.is_empty() && size + len > budget {
            out.push(Response::Part(wrap(std::mem::take(&mut chunk))));
            size = 0;
        }
        size += len;
        chunk.push(item);
    }
    if !chunk.is_empty() {
        out.push(Response::Part(wrap(chunk)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_payload;
    use crate::model::Severity;

    fn service(port: u16) -> Service {
        Service {
            host: "10.0.0.1".into(),
            port,
            proto: "tcp".into(),
            name: "http".into(),
            product: None,
            version: None,
            tls: false,
        }
    }

    #[test]
    fn encoded_len_is_the_payload_length() {
        let r = Response::Status(vec![]);
        assert_eq!(encoded_len(&r), encode_payload(&r).unwrap().len());
        let s = service(80);
        assert_eq!(encoded_len(&s), encode_payload(&s).unwrap().len());
    }

    #[test]
    fn a_small_answer_is_left_whole() {
        let r = Response::End;
        assert_eq!(split_answer(r.clone(), 16), vec![r]);
    }

    #[test]
    fn a_scans_hosts_are_cut_into_parts_of_their_own_in_order() {
        use crate::model::{HostName, OsMatch, ScanDetail};
        let hosts: Vec<Host> = (0..400u32)
            .map(|i| Host {
                address: format!("10.1.{}.{}", i / 256, i % 256),
                state: Some("up".into()),
                hostnames: vec![HostName {
                    name: format!("host-{i}.example.test"),
                    kind: "PTR".into(),
                }],
                os: vec![OsMatch {
                    name: "Linux 4.15 - 5.19".into(),
                    accuracy: 97,
                }],
                mac: Some("02:00:00:00:00:01".into()),
                vendor: Some("Example Networks".into()),
            })
            .collect();
        let detail = ScanDetail {
            id: 1,
            targets: vec!["10.1.0.0/23".into()],
            profile: "import".into(),
            ports: None,
            tools: vec!["nmap".into()],
            priority: 0,
            status: crate::model::ScanStatus::Done,
            created_at: String::new(),
            started_at: None,
            finished_at: None,
            error: None,
            warnings: vec![],
            tool_runs: vec![],
            hosts: hosts.clone(),
            services: vec![service(80)],
            findings: vec![],
            new_count: 0,
            resolved: vec![],
        };
        let budget = 2048;
        let frames = split_answer(Response::Scan(Box::new(detail)), budget);
        let (last, leading) = frames.split_last().unwrap();
        let mut joined = Vec::new();
        for f in leading {
            assert!(encoded_len(f) <= budget + 16, "a part over the budget");
            if let Response::Part(AnswerPart::Hosts(v)) = f {
                joined.extend(v.iter().cloned());
            }
        }
        assert!(leading.len() > 10, "{} parts", leading.len());
        assert_eq!(joined, hosts, "every host once, in order");
        let Response::Scan(rest) = last else {
            panic!("last frame {last:?}")
        };
        assert!(rest.hosts.is_empty() && rest.services.is_empty());
    }

    #[test]
    fn every_part_fits_the_budget_and_the_last_frame_is_the_usual_variant() {
        let page = crate::messages::FindingPage {
            findings: (0..500)
                .map(|i| Finding {
                    id: i,
                    tool: "nmap".into(),
                    host: "h".into(),
                    port: Some(80),
                    severity: Severity::Info,
                    title: format!("finding {i}"),
                    detail: "x".repeat(100),
                    cve: vec![],
                    evidence: String::new(),
                    fingerprint: format!("{i}"),
                    first_seen: None,
                    last_seen: None,
                    state: Default::default(),
                    resolved_at: None,
                    resolved_scan: None,
                    reopened_count: 0,
                })
                .collect(),
            next_cursor: Some("c".into()),
        };
        let budget = 4096;
        let frames = split_answer(Response::Findings(page), budget);
        assert!(frames.len() > 10, "{} frames", frames.len());
        let (last, leading) = frames.split_last().unwrap();
        for f in leading {
            assert!(matches!(f, Response::Part(AnswerPart::Findings(_))));
            // A part's own tag and length add a few bytes to the items' budget.
            assert!(encoded_len(f) <= budget + 16);
        }
        let Response::Findings(rest) = last else {
            panic!("last frame {last:?}")
        };
        assert!(rest.findings.is_empty());
        assert_eq!(rest.next_cursor.as_deref(), Some("c"));
        let joined: usize = leading
            .iter()
            .map(|f| match f {
                Response::Part(AnswerPart::Findings(v)) => v.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(joined, 500);
    }
}
