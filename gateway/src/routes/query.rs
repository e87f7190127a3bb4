//! `POST /api/query` (legacy JSON body) and `GET /api/query?start=&end=&...`: answered directly while a
//! direct-answer permit is free, queued otherwise (or when the client sends `Prefer: respond-async`).

use std::io;

use airq_common::answer::cache::AnswerKey;
use airq_common::answer::{Ask, Every, GroupBy, Question, AGGREGATE_EXTRAS, READINGS_EXTRAS};
use airq_common::protocol::{now_ms, Job};
use airq_common::query::ParseOptions;
use airq_common::results::NewJob;
use airq_common::Query;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::{stream, StreamExt};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use super::conditional::Validators;
use crate::error::ApiError;
use crate::fair_use::Caller;
use crate::state::AppState;
use airq_common::metrics::{JOBS_REFUSED, JOBS_SUBMITTED};

pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// An answer that ends within this many bytes is sent whole (one write, a `Content-Length`) rather than
/// streamed in chunks: one page of a typical answer.
const WHOLE_ANSWER_BYTES: usize = 256 << 10;

/// The window `/api/latest` reads when the client names none: the last hour up to the newest stored reading
/// (so an archive loaded yesterday still has a "now"; on a store fed every few minutes it is the last hour).
const LATEST_WINDOW_SECS: i64 = 3600;

/// The readings matching a query in the legacy JSON body.
#[utoipa::path(
    post,
    path = "/api/query",
    operation_id = "post_query",
    tag = "questions",
    request_body(content = crate::openapi::LegacyBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The answer, in the format of `format=` or `Accept` (CSV by default)",
            headers(("X-Airq-Answered" = String, description = "`direct`"),
                ("ETag" = String, description = "Strong; changes with the question and the data"),
                ("Cache-Control" = String)),
            content(
                (String = "text/csv"),
                (Vec<crate::openapi::ReadingRow> = "application/json"),
                (crate::openapi::ReadingRow = "application/x-ndjson"),
                (crate::openapi::FeatureCollection = "application/geo+json"),
            )),
        (status = 202, description = "Queued (the gateway is busy, or `Prefer: respond-async`): poll `Location`",
            body = crate::openapi::Pending,
            headers(("Location" = String), ("Retry-After" = u64))),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or queued jobs from this client", body = crate::openapi::ErrorBody,
            headers(("Retry-After" = u64))),
        (status = 503, description = "The store or queue is unavailable, or the queue is full", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is too large", body = crate::openapi::ErrorBody),
    )
)]
pub async fn post_query(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // Already read whole, within `--max-body` and its deadline, by `front` (which answers those refusals): this
    // takes the one buffer out. (Not the `Bytes` extractor: its limit needs a `DefaultBodyLimit` layer, and every
    // layer is cloned per request.)
    let body = super::body::whole(body, state.settings.max_body).await?;
    let accept = accept(&headers);
    let (query, ask) = state.parsed.get_or_parse(&body, accept, || {
        let options = ParseOptions {
            extras: READINGS_EXTRAS,
            default_window: None,
        };
        let parsed = Query::parse_json(&body, options)?;
        let ask = Ask::from_parsed(Question::Readings, &parsed, accept)?;
        Ok::<_, ApiError>((parsed.query, ask))
    })?;
    answer(state, caller, query, ask, prefers_async(&headers), None).await
}

/// The URL parameters, or a 400 naming the query string.
type Params = Result<axum::extract::Query<Vec<(String, String)>>, QueryRejection>;

/// The readings matching the filters, in time order.
#[utoipa::path(
    get,
    path = "/api/query",
    operation_id = "get_query",
    tag = "questions",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer: 304 if the answer is unchanged"), crate::openapi::Filters),
    responses(
        (status = 200, description = "The answer, in the format of `format=` or `Accept` (CSV by default)",
            headers(("X-Airq-Answered" = String, description = "`direct`"),
                ("ETag" = String, description = "Strong; changes with the question and the data"),
                ("Cache-Control" = String)),
            content(
                (String = "text/csv"),
                (Vec<crate::openapi::ReadingRow> = "application/json"),
                (crate::openapi::ReadingRow = "application/x-ndjson"),
                (crate::openapi::FeatureCollection = "application/geo+json"),
            )),
        (status = 202, description = "Queued (the gateway is busy, or `Prefer: respond-async`): poll `Location`",
            body = crate::openapi::Pending,
            headers(("Location" = String), ("Retry-After" = u64))),
        (status = 304, description = "Not modified: the answer at this data version has the tag in If-None-Match", headers(("ETag" = String))),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or queued jobs from this client", body = crate::openapi::ErrorBody,
            headers(("Retry-After" = u64))),
        (status = 503, description = "The store or queue is unavailable, or the queue is full", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_query(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    get_question(state, caller, headers, params, Question::Readings).await
}

/// Each sensor's newest reading in the window (default: the last hour of data), by sensor id.
#[utoipa::path(
    get,
    path = "/api/latest",
    operation_id = "get_latest",
    tag = "questions",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer: 304 if the answer is unchanged"), crate::openapi::Filters),
    responses(
        (status = 200, description = "The answer, in the format of `format=` or `Accept` (CSV by default)",
            headers(("X-Airq-Answered" = String, description = "`direct`"),
                ("ETag" = String, description = "Strong; changes with the question and the data"),
                ("Cache-Control" = String)),
            content(
                (String = "text/csv"),
                (Vec<crate::openapi::ReadingRow> = "application/json"),
                (crate::openapi::ReadingRow = "application/x-ndjson"),
                (crate::openapi::FeatureCollection = "application/geo+json"),
            )),
        (status = 202, description = "Queued (the gateway is busy, or `Prefer: respond-async`): poll `Location`",
            body = crate::openapi::Pending,
            headers(("Location" = String), ("Retry-After" = u64))),
        (status = 304, description = "Not modified: the answer at this data version has the tag in If-None-Match", headers(("ETag" = String))),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or queued jobs from this client", body = crate::openapi::ErrorBody,
            headers(("Retry-After" = u64))),
        (status = 503, description = "The store or queue is unavailable, or the queue is full", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_latest(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    get_question(state, caller, headers, params, Question::Latest).await
}

/// Count, mean, min and max of PM2.5 and PM10 per group and interval, and the index of the means.
#[utoipa::path(
    get,
    path = "/api/aggregate",
    operation_id = "get_aggregate",
    tag = "questions",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier answer: 304 if the answer is unchanged"), crate::openapi::Filters, crate::openapi::Grouping),
    responses(
        (status = 200, description = "The answer, in the format of `format=` or `Accept` (CSV by default)",
            headers(("X-Airq-Answered" = String, description = "`direct`"),
                ("ETag" = String, description = "Strong; changes with the question and the data"),
                ("Cache-Control" = String)),
            content(
                (String = "text/csv"),
                (Vec<crate::openapi::AggregateRow> = "application/json"),
                (crate::openapi::AggregateRow = "application/x-ndjson"),
                (crate::openapi::FeatureCollection = "application/geo+json"),
            )),
        (status = 202, description = "Queued (the gateway is busy, or `Prefer: respond-async`): poll `Location`",
            body = crate::openapi::Pending,
            headers(("Location" = String), ("Retry-After" = u64))),
        (status = 304, description = "Not modified: the answer at this data version has the tag in If-None-Match", headers(("ETag" = String))),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or queued jobs from this client", body = crate::openapi::ErrorBody,
            headers(("Retry-After" = u64))),
        (status = 503, description = "The store or queue is unavailable, or the queue is full", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_aggregate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let question = Question::Aggregate {
        by: GroupBy::default(),
        every: Every::default(),
    };
    get_question(state, caller, headers, params, question).await
}

async fn get_question(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
    question: Question,
) -> Result<Response, ApiError> {
    let axum::extract::Query(mut params) = params.map_err(|e| ApiError::BadRequest {
        field: Some("query".into()),
        message: e.body_text(),
    })?;
    let download = super::download::take(&mut params);
    let options = ParseOptions {
        extras: match question {
            Question::Aggregate { .. } => AGGREGATE_EXTRAS,
            _ => READINGS_EXTRAS,
        },
        default_window: match question {
            Question::Latest => Some(latest_window(&state).await?),
            _ => None,
        },
    };
    let parsed = Query::parse_params(
        params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        options,
    )?;
    let ask = Ask::from_parsed(question, &parsed, accept(&headers))?;
    let file_name =
        download.map(|asked| super::download::query_file_name(&parsed.query, &asked, ask.format));
    let response = answer(
        state,
        caller,
        parsed.query,
        ask,
        prefers_async(&headers),
        Some(&headers),
    )
    .await?;
    Ok(super::download::attach(response, file_name.as_deref()))
}

/// The last hour up to the newest reading (or up to now, for an empty store).
async fn latest_window(state: &AppState) -> Result<(i64, i64), ApiError> {
    let newest = state.store.newest().await.map_err(store_error)?;
    let end = newest.unwrap_or_else(|| now_ms().div_euclid(1000));
    Ok((end - LATEST_WINDOW_SECS, end))
}

/// The `Accept` header's text, when there is one.
fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// RFC 7240: `Prefer: respond-async` asks for the queued path even when a direct answer is possible.
fn prefers_async(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
}

/// Answers a question: `304` when the client holds the answer at this data version, the cached bytes when this
/// gateway holds them, a direct answer while a permit is free, queued otherwise. `conditional` is the request's
/// headers when it may be answered `304` (a GET), `None` otherwise.
async fn answer(
    state: AppState,
    caller: Caller,
    query: Query,
    ask: Ask,
    prefer_async: bool,
    conditional: Option<&HeaderMap>,
) -> Result<Response, ApiError> {
    if !prefer_async {
        let key = state.answers.key(&query, ask).await.map_err(store_error)?;
        let validators = Validators::new(&key, &state.cache_control);
        if conditional.is_some_and(|headers| validators.matches(headers)) {
            return Ok(validators.not_modified());
        }
        // A hot answer costs nothing to send: served even when every direct permit is taken.
        if let Some(hit) = state.answers.cache.get(&key) {
            let response =
                ([(header::CONTENT_TYPE, ask.format.content_type())], hit).into_response();
            let response = super::download::answered(response, super::download::Answered::Direct);
            return Ok(validators.apply(response));
        }
        if let Ok(permit) = state.direct.clone().try_acquire_owned() {
            let response = direct(state, query, ask, permit, key).await?;
            return Ok(validators.apply(response));
        }
    }
    if let Err(refused) = state.fair.queue(&caller, state.requests.as_ref()).await {
        let reason = if refused.status == StatusCode::SERVICE_UNAVAILABLE {
            "queue_full"
        } else {
            "rate"
        };
        metrics::counter!(JOBS_REFUSED, "reason" => reason).increment(1);
        return Ok(refused.into_response());
    }
    enqueue(state, caller, query, ask).await
}

fn store_error(e: airq_common::StoreError) -> ApiError {
    if e.is_unavailable() {
        ApiError::Unavailable(e.to_string())
    } else {
        ApiError::Internal(e.to_string())
    }
}

/// Streams the answer (the same function as the worker's, so both paths write the same bytes), keeping it in
/// the answer cache when it is small enough. The first chunk (the answer's start and first page) is read before
/// the status is sent, so that a store that is down gets a 503 instead of a 200 with a broken body; the permit is
/// held until the body has been sent.
async fn direct(
    state: AppState,
    query: Query,
    ask: Ask,
    permit: OwnedSemaphorePermit,
    key: AnswerKey,
) -> Result<Response, ApiError> {
    let mut chunks = state
        .answers
        .answer(key, &state.store, &query, ask, state.settings.page_size);
    // The first chunks, up to a small answer's size, before the status: a store that fails at once is a 503, and
    // an answer that ends within them (most do) is sent whole, with its length, in one write.
    let mut head = Vec::new();
    let mut ended = false;
    while head.iter().map(Bytes::len).sum::<usize>() < WHOLE_ANSWER_BYTES {
        match chunks.next().await {
            None => {
                ended = true;
                break;
            }
            Some(Ok(chunk)) => head.push(chunk),
            Some(Err(e)) => return Err(store_error(e)),
        }
    }
    let content_type = [(header::CONTENT_TYPE, ask.format.content_type())];
    if ended {
        drop(permit);
        let body = match head.len() {
            1 => head.remove(0),
            _ => Bytes::from(head.concat()),
        };
        let response = (content_type, body).into_response();
        return Ok(super::download::answered(
            response,
            super::download::Answered::Direct,
        ));
    }
    let head = stream::iter(head.into_iter().map(Ok::<_, io::Error>));
    let rest = chunks.map(move |chunk| {
        let _held = &permit;
        chunk.map_err(|e| {
            tracing::error!(error = %e, "store failed while streaming an answer; aborting the response");
            io::Error::other(e)
        })
    });
    let body = Body::from_stream(head.chain(rest));
    let response = (content_type, body).into_response();
    Ok(super::download::answered(
        response,
        super::download::Answered::Direct,
    ))
}

/// Queues the query: its record goes into the shared result store first (so any gateway can answer for it
/// from the moment the client has the id), then the job into the request queue.
async fn enqueue(
    state: AppState,
    caller: Caller,
    query: Query,
    ask: Ask,
) -> Result<Response, ApiError> {
    let id = Uuid::new_v4();
    let now = now_ms();
    let deadline = i64::try_from(state.settings.job_deadline.as_millis()).unwrap_or(i64::MAX);
    if !state.fair.exempt(&caller) {
        let until = std::time::Instant::now() + state.settings.job_deadline;
        if let Err(refused) = state.outstanding.reserve(&caller.client, id, until) {
            metrics::counter!(JOBS_REFUSED, "reason" => "pending").increment(1);
            return Ok(refused.into_response());
        }
    }
    let record = NewJob {
        id,
        submitted_ms: now,
        deadline_ms: now.saturating_add(deadline),
        ttl: state.settings.result_ttl,
        owner: caller.key.clone(),
        format: ask.format,
    };
    let job = Job {
        id,
        query,
        ask,
        reply_to: state.reply_to.clone(),
        submitted_at: now,
    };
    let queued = queue_job(&state, &record, &job).await;
    if queued.is_err() {
        state.outstanding.release(&id);
    }
    queued?;
    metrics::counter!(JOBS_SUBMITTED).increment(1);
    let response = pending(
        StatusCode::ACCEPTED,
        id,
        "queued",
        state.settings.retry_after_secs,
        true,
    );
    Ok(super::download::answered(
        response,
        super::download::Answered::Queued,
    ))
}

/// Records the job, then queues it.
async fn queue_job(state: &AppState, record: &NewJob, job: &Job) -> Result<(), ApiError> {
    let id = record.id;
    let body = serde_json::to_string(job).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .results
        .create(record)
        .await
        .map_err(|e| ApiError::Unavailable(format!("could not record the job: {e}")))?;
    if let Err(e) = state.requests.send(&[body]).await {
        // Nobody will answer it: do not leave a record that would read as queued until its deadline.
        if let Err(e) = state.results.cancel(id).await {
            tracing::warn!(job_id = %id, error = %e, "could not withdraw the record of a job that was not queued");
        }
        return Err(ApiError::Unavailable(format!(
            "could not queue the query: {e}"
        )));
    }
    Ok(())
}

/// A `202` for a job still pending: its id and status, where to poll, and when.
pub fn pending(
    status: StatusCode,
    id: Uuid,
    what: &str,
    retry_after: u64,
    location: bool,
) -> Response {
    let mut response = (status, Json(json!({ "id": id, "status": what }))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    if location {
        if let Ok(v) = HeaderValue::from_str(&format!("/results/{id}")) {
            headers.insert(header::LOCATION, v);
        }
    }
    response
}
