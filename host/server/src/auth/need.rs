//! [`Need`]: what each route asks of its caller, in one table. A route missing from the table
//! needs `admin` (fail closed).

use axum::http::Method;

use super::token::Scope;

/// What a caller must hold to use a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Open to anyone (`/healthz`, `/readyz`: probes carry no token).
    Nothing,
    /// A token with this scope (`admin` implies all).
    Scope(Scope),
    /// A token that may publish to this queue.
    Publish(String),
    /// `read`, or a `publish` token for the task's queue (checked once the record is loaded).
    TaskRecord,
    /// Any valid token, whatever its scopes (`/v1/whoami`: a caller asks what it may do).
    Token,
    /// A `publish` token for the task's queue (checked once the record is loaded); a task
    /// without a record needs `admin`.
    CancelTask,
    /// `publish` (submit, cancel) or `read` (show); the route then checks that the token may
    /// publish to every queue the workflow names (or holds `read`, to show it).
    Workflow,
}

/// The need of `method` on the route template `route` (axum's matched path), `queue` being its
/// `{queue}` parameter.
pub fn of(method: &Method, route: &str, queue: Option<&str>) -> Need {
    let read = *method == Method::GET || *method == Method::HEAD;
    match route {
        "/healthz" | "/readyz" if read => Need::Nothing,
        // The dashboard's static assets hold no data: every number it shows comes from the
        // routes below, with the token the user typed in.
        "/ui" | "/ui/" | "/ui/{asset}" if read => Need::Nothing,
        "/v1/whoami" if read => Need::Token,
        "/v1/tasks/{id}" | "/v1/tasks/{id}/result" if read => Need::TaskRecord,
        "/v1/tasks/{id}" if *method == Method::DELETE => Need::CancelTask,
        "/v1/workflows" if *method == Method::POST => Need::Workflow,
        "/v1/workflows/{id}" if read || *method == Method::DELETE => Need::Workflow,
        "/metrics"
        | "/v1/schedules"
        | "/v1/hosts"
        | "/v1/queues"
        | "/v1/queues/{queue}/versions"
        | "/v1/queues/{queue}/history"
        | "/v1/queues/{queue}/dlq"
            if read =>
        {
            Need::Scope(Scope::Read)
        }
        "/v1/queues/{queue}/messages" | "/v1/queues/{queue}/messages:batch"
            if *method == Method::POST =>
        {
            Need::Publish(queue.unwrap_or_default().to_owned())
        }
        "/v1/queues/{queue}/module" if *method == Method::PUT => Need::Scope(Scope::Deploy),
        // Managing schedules is like pausing a queue: an operator's act, not a publish.
        "/v1/schedules" if *method == Method::POST => Need::Scope(Scope::Deploy),
        "/v1/schedules/{name}" if *method == Method::DELETE => Need::Scope(Scope::Deploy),
        "/v1/schedules/{name}/pause"
        | "/v1/schedules/{name}/resume"
        | "/v1/schedules/{name}/run"
            if *method == Method::POST =>
        {
            Need::Scope(Scope::Deploy)
        }
        "/v1/queues/{queue}/rollback"
        | "/v1/queues/{queue}/pause"
        | "/v1/queues/{queue}/resume"
            if *method == Method::POST =>
        {
            Need::Scope(Scope::Deploy)
        }
        // Dead-letter replay/purge, tokens, the audit log, and anything not listed above.
        _ => Need::Scope(Scope::Admin),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_what_the_readme_says() {
        let q = Some("add");
        assert_eq!(of(&Method::GET, "/healthz", None), Need::Nothing);
        assert_eq!(of(&Method::GET, "/readyz", None), Need::Nothing);
        assert_eq!(of(&Method::GET, "/metrics", None), Need::Scope(Scope::Read));
        assert_eq!(
            of(&Method::GET, "/v1/hosts", None),
            Need::Scope(Scope::Read)
        );
        assert_eq!(
            of(&Method::POST, "/v1/queues/{queue}/messages", q),
            Need::Publish("add".into())
        );
        assert_eq!(
            of(&Method::PUT, "/v1/queues/{queue}/module", q),
            Need::Scope(Scope::Deploy)
        );
        assert_eq!(
            of(&Method::DELETE, "/v1/queues/{queue}/dlq", q),
            Need::Scope(Scope::Admin)
        );
        assert_eq!(
            of(&Method::POST, "/v1/queues/{queue}/dlq/replay", q),
            Need::Scope(Scope::Admin)
        );
        assert_eq!(
            of(&Method::GET, "/v1/tokens", None),
            Need::Scope(Scope::Admin)
        );
        assert_eq!(
            of(&Method::GET, "/v1/audit", None),
            Need::Scope(Scope::Admin)
        );
        assert_eq!(of(&Method::GET, "/v1/tasks/{id}", None), Need::TaskRecord);
        assert_eq!(of(&Method::GET, "/ui", None), Need::Nothing);
        assert_eq!(of(&Method::GET, "/ui/{asset}", None), Need::Nothing);
        assert_eq!(
            of(&Method::POST, "/ui/{asset}", None),
            Need::Scope(Scope::Admin),
            "the assets are read-only"
        );
        assert_eq!(of(&Method::GET, "/v1/whoami", None), Need::Token);
        assert_eq!(
            of(&Method::GET, "/v1/schedules", None),
            Need::Scope(Scope::Read)
        );
        assert_eq!(
            of(&Method::DELETE, "/v1/tasks/{id}", None),
            Need::CancelTask
        );
        assert_eq!(of(&Method::POST, "/v1/workflows", None), Need::Workflow);
        for route in [
            "/v1/schedules",
            "/v1/schedules/{name}/pause",
            "/v1/schedules/{name}/run",
        ] {
            assert_eq!(of(&Method::POST, route, None), Need::Scope(Scope::Deploy));
        }
        assert_eq!(
            of(&Method::DELETE, "/v1/schedules/{name}", None),
            Need::Scope(Scope::Deploy)
        );
        assert_eq!(of(&Method::GET, "/v1/workflows/{id}", None), Need::Workflow);
        assert_eq!(
            of(&Method::DELETE, "/v1/workflows/{id}", None),
            Need::Workflow
        );
        assert_eq!(
            of(&Method::PUT, "/v1/workflows/{id}", None),
            Need::Scope(Scope::Admin)
        );
    }
}
