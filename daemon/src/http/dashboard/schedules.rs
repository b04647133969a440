//! `/schedules`: the recurring scans, as `picket schedule list` shows them, with pause,
//! resume and run-now buttons (`POST /schedules/{id}/{action}`, the same schedule
//! commands). Must not time anything: schedule/ does.

use actix_web::{web, HttpRequest, HttpResponse};
use minijinja::context;
use picket_protocol::{ErrorReply, Request, Response, ScheduleCommand};

use super::render::{self, ask, error_page, invalid, see_other, unexpected};
use crate::ipc::state::DaemonState;

type State = web::Data<DaemonState>;

pub async fn page(req: HttpRequest, state: State) -> HttpResponse {
    match ask(
        &state.into_inner(),
        Request::Schedule(ScheduleCommand::List),
    )
    .await
    {
        Ok(Response::Schedules(list)) => {
            let ctx = context! { title => "Schedules", schedules => list };
            render::page(&req, "schedules.html", "schedules", ctx)
        }
        Ok(_) => error_page(&req, &unexpected("something other than schedules")),
        Err(e) => error_page(&req, &e),
    }
}

pub async fn act(req: HttpRequest, state: State, path: web::Path<(i64, String)>) -> HttpResponse {
    let (id, action) = path.into_inner();
    let command = match command_of(id, &action) {
        Ok(c) => c,
        Err(e) => return error_page(&req, &e),
    };
    match ask(&state.into_inner(), Request::Schedule(command)).await {
        Ok(_) => see_other("/schedules"),
        Err(e) => error_page(&req, &e),
    }
}

/// The buttons' actions; removing stays with the CLI, where it is typed deliberately.
pub fn command_of(id: i64, action: &str) -> Result<ScheduleCommand, ErrorReply> {
    match action {
        "pause" => Ok(ScheduleCommand::Pause { id }),
        "resume" => Ok(ScheduleCommand::Resume { id }),
        "run-now" => Ok(ScheduleCommand::RunNow { id }),
        other => Err(invalid(
            format!("'{other}' is not something a schedule can do here"),
            "use pause, resume or run-now (picket schedule remove deletes one)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use picket_protocol::{ScheduleInfo, Timestamp};

    #[test]
    fn actions_map_to_schedule_commands() {
        assert_eq!(
            command_of(4, "pause").unwrap(),
            ScheduleCommand::Pause { id: 4 }
        );
        assert_eq!(
            command_of(4, "run-now").unwrap(),
            ScheduleCommand::RunNow { id: 4 }
        );
        let e = command_of(4, "remove").unwrap_err();
        assert!(e.hint.contains("pause, resume or run-now"), "{e:?}");
    }

    #[test]
    fn a_paused_schedule_offers_resume_with_the_csrf_token() {
        let s = ScheduleInfo {
            id: 9,
            name: Some("nightly".into()),
            targets: vec!["127.0.0.1".into()],
            every_secs: None,
            cron: Some("0 3 * * *".into()),
            tz: "UTC".into(),
            profile: None,
            tools: vec![],
            ports: None,
            paused: true,
            created_at: Timestamp::parse_rfc3339("2026-11-30T23:00:00Z").unwrap(),
            next_run_at: None,
            last_run_at: None,
            last_scan: Some(5),
            last_error: None,
        };
        let ctx = context! { title => "Schedules", nav => "schedules", csrf => "c5", schedules => vec![s] };
        let html = render::render("schedules.html", ctx).unwrap();
        assert!(html.contains(r#"action="/schedules/9/resume""#), "{html}");
        assert!(!html.contains("/schedules/9/pause"), "{html}");
        assert!(
            html.contains(r#"value="c5""#) && html.contains(r#"href="/scans/5""#),
            "{html}"
        );
    }
}
