//! `/v1/schedules`: `picket schedule list | add | pause | resume | run-now | remove`. Must
//! not validate a schedule itself (ipc/handlers/schedules.rs does, for both doors alike).

use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use picket_protocol::{Request, ScheduleCommand, ScheduleId, ScheduleSpec};

use super::{json_body, Endpoint, Routes, State};
use crate::http::answer::{call, error_document};

pub fn routes(r: &mut Routes) {
    r.add(
        Endpoint::new(Method::GET, "/schedules", "listSchedules")
            .summary("Every recurring scan (`picket schedule list`)")
            .answers(200, "schedules"),
        list,
    );
    r.add(
        Endpoint::new(Method::POST, "/schedules", "addSchedule")
            .summary("Adds a recurring scan: every_secs or cron (`picket schedule add`)")
            .body::<ScheduleSpec>("ScheduleSpec")
            .answers(201, "schedules"),
        add,
    );
    let one = |method, path, operation, summary| {
        Endpoint::new(method, path, operation)
            .summary(summary)
            .id("id", "The schedule's id")
            .answers(200, "schedules")
    };
    r.add(
        one(
            Method::POST,
            "/schedules/{id}/pause",
            "pauseSchedule",
            "Pauses it",
        ),
        pause,
    );
    r.add(
        one(
            Method::POST,
            "/schedules/{id}/resume",
            "resumeSchedule",
            "Resumes it",
        ),
        resume,
    );
    r.add(
        one(
            Method::POST,
            "/schedules/{id}/run",
            "runSchedule",
            "Submits its scan now; the next due time does not move",
        ),
        run_now,
    );
    r.add(
        one(
            Method::DELETE,
            "/schedules/{id}",
            "removeSchedule",
            "Removes it",
        ),
        remove,
    );
}

async fn command(state: State, cmd: ScheduleCommand) -> HttpResponse {
    call(&state.into_inner(), Request::Schedule(cmd)).await
}

async fn list(state: State) -> HttpResponse {
    command(state, ScheduleCommand::List).await
}

async fn add(state: State, body: web::Bytes) -> HttpResponse {
    let spec: ScheduleSpec = match json_body(&body, "schedule") {
        Ok(spec) => spec,
        Err(e) => return error_document(&e),
    };
    let mut answer = command(state, ScheduleCommand::Add(spec)).await;
    if answer.status().is_success() {
        *answer.status_mut() = actix_web::http::StatusCode::CREATED;
    }
    answer
}

async fn pause(state: State, id: web::Path<ScheduleId>) -> HttpResponse {
    let id = id.into_inner();
    command(state, ScheduleCommand::Pause { id }).await
}

async fn resume(state: State, id: web::Path<ScheduleId>) -> HttpResponse {
    let id = id.into_inner();
    command(state, ScheduleCommand::Resume { id }).await
}

async fn run_now(state: State, id: web::Path<ScheduleId>) -> HttpResponse {
    let id = id.into_inner();
    command(state, ScheduleCommand::RunNow { id }).await
}

async fn remove(state: State, id: web::Path<ScheduleId>) -> HttpResponse {
    let id = id.into_inner();
    command(state, ScheduleCommand::Remove { id }).await
}
