"""Open311 GeoReport v2 under `/open311/v2/`: services from the taxonomy, requests read and created.

An adapter like the WeChat webhook, in four parts: `routes` (these endpoints), `schemas` (the
documented shapes and a POST's fields checked), `codec` (JSON / XML out, bodies and dates in) and
`service` (requests turned into domain calls: `bot.events.intake.report`, `set_place`). Wired by
the app factory with `app.include_router(routes.router)`.

Decisions (GeoReport v2 leaves these to the implementer):

* **Formats** — every endpoint answers `.json` or `.xml`; any other extension is 404. Errors use
  the spec's list `[{"code": 400, "description": "…"}]` / `<errors><error>…</error></errors>`.
* **Reading is public, as in the spec, but coarse without an api_key**: a keyless read gets the
  grid for an address, coordinates rounded to 0.001° (~100 m), the category for a description,
  no media and at most 100 requests; with a `WEILINLI_OPEN311_KEYS` key it gets the rest. Either way
  what is published is privacy-safe —
  phone numbers, ID-card numbers and e-mail addresses in texts are masked, the reporter is never
  shown, workers are not named (agency = the handling unit), and `media_url` is given only for
  media that an Open311 client itself submitted (residents' WeChat photos are not published).
* **Status** — `open`: 待受理, 已派单, 处置中 and 已办结 (completed but awaiting the dispatcher's
  check); `closed`: 已结案, 已评价, 不予受理, 已撤销, 已合并. `status_notes` carries the Chinese state and,
  for closed events, the closing / rejection note, or for merged ones the event it was merged into.
* **service_code on POST** — optional here (the spec makes it required): the description is
  classified by the same rules as a WeChat message; a given, known service_code overrides the
  classified category (the client chose it explicitly; grade and routing still follow the
  classification). Either service_code or description must be present.
* **Location** — `lat`+`long` route by point-in-polygon; otherwise `address_string` routes by grid
  names / aliases; `address_id` is accepted as an opaque reference (we have no address register),
  so such a request waits in the dispatcher queue unless its description names a place. Open311
  reports never fall back to a reporter's last known grid.
* **Reporter** — a pseudo resident `open311:<key id>[:<e-mail hash>]` (the key id is a hash, never
  the key); e-mail and name are kept in a timeline note for the dispatcher, the phone on the event.
* **Idempotency** — an optional `client_request_id` field (or an `Idempotency-Key` header) makes a
  repeated POST return the first request's id instead of creating a second event (per API key).
* **Dates** — requested/updated times in the service's time zone (Asia/Shanghai) with offset.
  `start_date`/`end_date` accept ISO 8601 (a time without offset is local; a date-only end_date
  includes that whole day); the window may not span more than 90 days; without dates the last
  90 days; at most 1000 requests, newest first.
"""


from __future__ import annotations

import hmac

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

import nlp
from bot.open311 import service
from bot.open311.codec import FORMATS, Open311Error, errors, read_fields, respond
from bot.open311.schemas import (
    ERROR_RESPONSES,
    FORMAT_PATH,
    POST_BODY,
    XML_CONTENT,
    CreatedOut,
    ErrorOut,
    RequestOut,
    ServiceDefinitionOut,
    ServiceOut,
    configured_keys,
    parse_new_request,
)

router = APIRouter(prefix="/open311/v2", tags=["open311"])


def key_ok(api_key: str | None) -> bool:
    """Whether a read carries one of WEILINLI_OPEN311_KEYS (compared in constant time)."""
    presented = (api_key or "").encode()
    return bool(presented) and any(hmac.compare_digest(presented, k.encode()) for k in configured_keys())


@router.get(
    "/services.{fmt}",
    summary="GET Service List",
    response_model=list[ServiceOut],
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_services(fmt: str = FORMAT_PATH, jurisdiction_id: str | None = Query(None)) -> Response:
    """The service types: one per category of the taxonomy (codes fixed, Chinese names)."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    return respond(fmt, "services", "service", service.service_list())


@router.get(
    "/services/{service_code}.{fmt}",
    summary="GET Service Definition",
    response_model=ServiceDefinitionOut,
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_service_definition(
    service_code: str, fmt: str = FORMAT_PATH, jurisdiction_id: str | None = Query(None)
) -> Response:
    """No service has extra attributes (metadata false): a known code has an empty attribute list."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    if service_code not in nlp.CATEGORIES:
        return errors(fmt, 404, f"service_code not found: {service_code}")
    return respond(fmt, "service_definition", None, {"service_code": service_code, "attributes": []})


@router.get(
    "/requests.{fmt}",
    summary="GET Service Requests",
    response_model=list[RequestOut],
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_requests(
    fmt: str = FORMAT_PATH,
    service_request_id: str | None = Query(None, description="comma-separated ids; overrides all other filters"),
    service_code: str | None = Query(None, description="comma-separated service codes"),
    start_date: str | None = Query(None, description="ISO 8601, earliest requested_datetime"),
    end_date: str | None = Query(None, description="ISO 8601, latest requested_datetime"),
    status: str | None = Query(None, description="open, closed or open,closed"),
    jurisdiction_id: str | None = Query(None),
    api_key: str | None = Query(None, description="a WEILINLI_OPEN311_KEYS key: exact location and texts"),
) -> Response:
    """Requests newest first: by default the last 90 days, at most 1000 (100 without an API key).
    Without an API key the location is coarse and no resident's text is shown."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    try:
        payload = service.requests_out(full=key_ok(api_key), service_request_id=service_request_id,
                                       service_code=service_code, start_date=start_date, end_date=end_date,
                                       status=status)
    except Open311Error as e:
        return errors(fmt, e.status, *e.descriptions)
    return respond(fmt, "service_requests", "request", payload)


@router.get(
    "/requests/{service_request_id}.{fmt}",
    summary="GET Service Request",
    response_model=list[RequestOut],
    responses={200: {"content": XML_CONTENT}, **ERROR_RESPONSES},
)
def get_request(service_request_id: str, fmt: str = FORMAT_PATH, jurisdiction_id: str | None = Query(None),
                api_key: str | None = Query(None, description="exact location and texts")) -> Response:
    """One request (as a one-element list, as the spec shows); coarse without an API key."""
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    found = service.one_request_out(service_request_id, full=key_ok(api_key))
    if found is None:
        return errors(fmt, 404, f"service_request_id not found: {service_request_id}")
    return respond(fmt, "service_requests", "request", [found])


@router.post(
    "/requests.{fmt}",
    summary="POST Service Request",
    response_model=list[CreatedOut],
    responses={
        200: {"content": XML_CONTENT},
        403: {"model": list[ErrorOut], "description": "api_key missing or invalid"},
        413: {"model": list[ErrorOut], "description": "body too large"},
        **ERROR_RESPONSES,
    },
    openapi_extra=POST_BODY,
)
async def post_request(request: Request, fmt: str = FORMAT_PATH) -> Response:
    """Create an event (form-encoded as the spec says, or JSON) through classification and routing.

    Needs an `api_key` from `WEILINLI_OPEN311_KEYS`; answers `[{service_request_id, service_notice,
    account_id}]`. A repeated `client_request_id` (or `Idempotency-Key` header) returns the same id.
    """
    if fmt not in FORMATS:
        return errors("json", 404, "format must be json or xml")
    try:
        new = parse_new_request(await read_fields(request), request.headers.get("idempotency-key"))
    except Open311Error as e:
        return errors(fmt, e.status, *e.descriptions)
    event_number, notice = await run_in_threadpool(service.create, new)
    return respond(fmt, "service_requests", "request",
                   [{"service_request_id": event_number, "service_notice": notice, "account_id": None}])
