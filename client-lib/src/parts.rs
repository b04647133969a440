//! Joins a big answer sent as `Response::Part`s (see picket-protocol's parts.rs) back into
//! the one value the daemon cut: the parts' items go in front of the final answer's, in
//! the order they came. Must not read the socket: `Client::call` feeds it frames.

use picket_protocol::{
    AnswerPart, Finding, Host, Response, ScanProgress, ScanSummary, Service, ToolRun,
};

use crate::client::unexpected;
use crate::error::ClientError;

/// The parts of one answer received so far.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    tool_runs: Vec<ToolRun>,
    hosts: Vec<Host>,
    services: Vec<Service>,
    findings: Vec<Finding>,
    progress: Vec<ScanProgress>,
    scans: Vec<ScanSummary>,
    output: Vec<u8>,
}

/// `parts` then `rest`, in that order, in `rest`'s place.
fn join<T>(mut parts: Vec<T>, rest: &mut Vec<T>) {
    if !parts.is_empty() {
        parts.append(rest);
        *rest = parts;
    }
}

impl Reassembly {
    pub fn push(&mut self, part: AnswerPart) {
        match part {
            AnswerPart::ToolRuns(v) => self.tool_runs.extend(v),
            AnswerPart::Hosts(v) => self.hosts.extend(v),
            AnswerPart::Services(v) => self.services.extend(v),
            AnswerPart::Findings(v) => self.findings.extend(v),
            AnswerPart::Progress(v) => self.progress.extend(v),
            AnswerPart::Scans(v) => self.scans.extend(v),
            AnswerPart::OutputBytes(v) => self.output.extend(v),
        }
    }

    /// The whole answer: `last` (the request's usual answer) with the parts put back. Parts
    /// that `last` has no place for are a daemon speaking another protocol: `Unexpected`.
    pub fn finish(self, request: &'static str, last: Response) -> Result<Response, ClientError> {
        let Reassembly {
            tool_runs,
            hosts,
            services,
            findings,
            progress,
            scans,
            output,
        } = self;
        // Output bytes belong to an `Output` answer only.
        let stray_output = !output.is_empty() && !matches!(last, Response::Output(_));
        // Each arm takes the lists its answer has and checks the others are empty.
        let (last, fits) = match last {
            Response::Scan(mut d) => {
                join(tool_runs, &mut d.tool_runs);
                join(hosts, &mut d.hosts);
                join(services, &mut d.services);
                join(findings, &mut d.findings);
                (Response::Scan(d), progress.is_empty() && scans.is_empty())
            }
            Response::Findings(mut page) => {
                join(findings, &mut page.findings);
                let others = tool_runs.is_empty() && hosts.is_empty() && services.is_empty();
                let fits = others && progress.is_empty() && scans.is_empty();
                (Response::Findings(page), fits)
            }
            Response::Status(mut v) => {
                join(progress, &mut v);
                let others = tool_runs.is_empty() && hosts.is_empty() && services.is_empty();
                (
                    Response::Status(v),
                    others && findings.is_empty() && scans.is_empty(),
                )
            }
            Response::Scans(mut page) => {
                join(scans, &mut page.scans);
                let others = tool_runs.is_empty() && hosts.is_empty() && services.is_empty();
                (
                    Response::Scans(page),
                    others && findings.is_empty() && progress.is_empty(),
                )
            }
            Response::Output(mut o) => {
                join(output, &mut o.bytes);
                let others = tool_runs.is_empty() && hosts.is_empty() && services.is_empty();
                let fits = others && findings.is_empty() && progress.is_empty();
                (Response::Output(o), fits && scans.is_empty())
            }
            other => {
                let others = output.is_empty()
                    && tool_runs.is_empty()
                    && hosts.is_empty()
                    && services.is_empty()
                    && findings.is_empty();
                (other, others && progress.is_empty() && scans.is_empty())
            }
        };
        match fits && !stray_output {
            true => Ok(last),
            false => unexpected(request, last),
        }
    }
}

#[cfg(test)]
mod tests {
    use picket_protocol::*;

    use super::Reassembly;
    use crate::ClientError;

    fn detail(services: u16) -> ScanDetail {
        ScanDetail {
            id: 7,
            targets: vec!["10.0.0.1".into()],
            profile: "import".into(),
            ports: None,
            tools: vec!["nmap".into()],
            priority: 0,
            status: ScanStatus::Done,
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            finished_at: None,
            error: None,
            warnings: vec![],
            tool_runs: vec![ToolRun {
                duration_ms: Some(0),
                warnings: vec!["a record the parser could not place".into()],
                ..ToolRun::new("nmap", "10.0.0.1", RunStatus::Done)
            }],
            hosts: (1..=services)
                .map(|i| Host {
                    address: format!("10.0.{}.{}", i / 256, i % 256),
                    state: Some("up".into()),
                    hostnames: vec![HostName {
                        name: format!("h{i}.example.test"),
                        kind: "PTR".into(),
                    }],
                    os: vec![OsMatch {
                        name: "Linux 5.0 - 5.14".into(),
                        accuracy: 96,
                    }],
                    mac: None,
                    vendor: None,
                })
                .collect(),
            services: (1..=services)
                .map(|port| Service {
                    host: "10.0.0.1".into(),
                    port,
                    proto: "tcp".into(),
                    name: format!("svc-{port}"),
                    product: None,
                    version: None,
                    tls: false,
                })
                .collect(),
            findings: (1..=services)
                .map(|port| Finding {
                    id: port.into(),
                    tool: "nmap".into(),
                    host: "10.0.0.1".into(),
                    port: Some(port),
                    severity: Severity::Info,
                    title: format!("open port {port}"),
                    detail: String::new(),
                    cve: vec![],
                    evidence: String::new(),
                    fingerprint: format!("fp{port}"),
                    first_seen: None,
                    last_seen: None,
                    state: Default::default(),
                    resolved_at: None,
                    resolved_scan: None,
                    reopened_count: 0,
                })
                .collect(),
            new_count: 0,
            resolved: vec![],
        }
    }

    /// Feeds `frames` as `Client::call` does: parts, then the last answer.
    fn join(frames: Vec<Response>) -> Result<Response, ClientError> {
        let mut parts = Reassembly::default();
        let (last, leading) = frames.split_last().unwrap();
        for f in leading {
            match f {
                Response::Part(p) => parts.push(p.clone()),
                other => panic!("not a part: {other:?}"),
            }
        }
        parts.finish("show", last.clone())
    }

    #[test]
    fn a_scan_cut_into_parts_comes_back_equal() {
        let whole = detail(5000);
        let frames = split_answer(Response::Scan(Box::new(whole.clone())), 8 * 1024);
        assert!(frames.len() > 20, "cut into {} frames", frames.len());
        assert_eq!(join(frames).unwrap(), Response::Scan(Box::new(whole)));
    }

    #[test]
    fn status_and_pages_cut_into_parts_come_back_equal() {
        let progress: Vec<ScanProgress> = (0..300)
            .map(|id| ScanProgress {
                id,
                targets: vec![format!("https://example.test/{}", "p".repeat(200)); 4],
                profile: "web".into(),
                status: ScanStatus::Queued,
                runs_total: 0,
                runs_finished: 0,
                running: vec![],
                findings_count: 0,
            })
            .collect();
        let status = Response::Status(progress);
        assert_eq!(join(split_answer(status.clone(), 4096)).unwrap(), status);
        let page = Response::Findings(FindingPage {
            findings: detail(2000).findings,
            next_cursor: Some("next".into()),
        });
        assert_eq!(join(split_answer(page.clone(), 4096)).unwrap(), page);
    }

    #[test]
    fn a_big_output_cut_into_parts_comes_back_byte_for_byte() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let whole = Response::Output(Box::new(RunOutput {
            run: 3,
            scan: 1,
            tool: "nmap".into(),
            target: "10.0.0.1".into(),
            stored: true,
            size: bytes.len() as u64,
            removed_at: None,
            bytes,
        }));
        let frames = split_answer(whole.clone(), 4096);
        assert!(frames.len() > 50, "cut into {} frames", frames.len());
        assert_eq!(join(frames).unwrap(), whole);
        // Output bytes before another answer are a daemon speaking another protocol.
        let stray = Response::Part(AnswerPart::OutputBytes(vec![1, 2]));
        assert!(join(vec![stray, Response::Status(vec![])]).is_err());
    }

    #[test]
    fn an_answer_without_parts_is_itself_and_misplaced_parts_are_unexpected() {
        assert_eq!(join(vec![Response::End]).unwrap(), Response::End);
        let services = Response::Part(AnswerPart::Services(detail(2).services));
        let err = join(vec![services, Response::Status(vec![])]).unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Unexpected {
                    request: "show",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
