//! The JSON Schema (2020-12) of a REST source's `config`, for the API's OpenAPI document. It
//! lists both spellings of every field that has two (ours and Cloud Elements').

use serde_json::{Map, Value, json};
use tributary_provider_kit::schema::{
    basic_credentials, bearer_credentials, integer, oauth_credentials, poll_policy, secret,
};

fn string(description: &str) -> Value {
    json!({"type": "string", "minLength": 1, "description": description})
}

/// `names` all mean the field described by `schema`.
fn spellings(props: &mut Map<String, Value>, names: &[&str], schema: Value) {
    for name in names {
        props.insert((*name).to_owned(), schema.clone());
    }
}

fn paging() -> Value {
    let size = json!({"type": "integer", "minimum": 1, "maximum": crate::config::MAX_PAGE_SIZE});
    json!({
        "description": "How pages follow each other (default: one request answers the window).",
        "oneOf": [
            {"type": "object", "additionalProperties": false, "required": ["mode"],
             "properties": {"mode": {"const": "none"}}},
            {"type": "object", "additionalProperties": false, "required": ["mode"],
             "properties": {"mode": {"const": "page"}, "param": {"type": "string", "default": "page"},
                "first": {"type": "integer", "minimum": 0, "default": 1},
                "size_param": {"type": "string"}, "size": size, "max_size": size}},
            {"type": "object", "additionalProperties": false, "required": ["mode", "size"],
             "properties": {"mode": {"const": "offset"}, "param": {"type": "string", "default": "offset"},
                "size_param": {"type": "string"}, "size": size, "max_size": size}},
            {"type": "object", "additionalProperties": false, "required": ["mode", "param", "field"],
             "properties": {"mode": {"const": "cursor"}, "param": {"type": "string"},
                "field": {"type": "string", "pattern": "^/", "description": "JSON pointer to the next cursor."}}},
            {"type": "object", "additionalProperties": false, "required": ["mode"],
             "properties": {"mode": {"const": "link"}}},
            {"type": "object", "additionalProperties": false, "required": ["mode", "field"],
             "properties": {"mode": {"const": "next_url"},
                "field": {"type": "string", "pattern": "^/", "description": "JSON pointer to the next page's URL."}}}
        ]
    })
}

fn dates() -> Value {
    let mut p = Map::new();
    let field = string("A top-level key or a JSON pointer (`/meta/updated`).");
    let format = string(
        "A Java SimpleDateFormat pattern (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`), `epoch_seconds`, `epoch_millis` or `rfc3339` (default).",
    );
    let zone =
        string("`UTC`, `GMT` or a fixed offset (`+02:00`): the zone of a value without an offset.");
    spellings(
        &mut p,
        &["updatedDateField", "updatedAtField", "updated_field"],
        field.clone(),
    );
    spellings(
        &mut p,
        &["updatedDateFormat", "updatedAtFormat", "updated_format"],
        format.clone(),
    );
    spellings(
        &mut p,
        &[
            "updatedDateTimezone",
            "updatedAtTimezone",
            "updated_timezone",
        ],
        zone.clone(),
    );
    spellings(
        &mut p,
        &["createdDateField", "createdAtField", "created_field"],
        field,
    );
    spellings(
        &mut p,
        &["createdDateFormat", "createdAtFormat", "created_format"],
        format,
    );
    spellings(
        &mut p,
        &[
            "createdDateTimezone",
            "createdAtTimezone",
            "created_timezone",
        ],
        zone,
    );
    json!({"type": "object", "additionalProperties": false, "properties": p,
        "description": "Cloud Elements' datesConfiguration: the updated date is required (either spelling)."})
}

fn url_props(p: &mut Map<String, Value>) {
    p.insert("url".into(), string("Relative to base_url (or absolute on its origin), with ${gmtDate:PATTERN}, ${after:PATTERN} or ${before:PATTERN}."));
    spellings(
        p,
        &["url_timezone", "urlTimezone"],
        string("The zone ${after} and ${before} are written in (default UTC)."),
    );
    spellings(
        p,
        &["list", "listPointer"],
        json!({"type": "string", "description": "JSON pointer to the items (default: the answer is the array)."}),
    );
    p.insert("paging".into(), paging());
}

fn resource() -> Value {
    let mut p = Map::new();
    url_props(&mut p);
    spellings(
        &mut p,
        &["id_field", "idField"],
        string("The field that identifies an item."),
    );
    spellings(&mut p, &["dates", "datesConfiguration"], dates());
    p.insert(
        "kind".into(),
        string("The unified object's kind (default: the resource's name)."),
    );
    for (ours, theirs, what) in [
        (
            "kind_field",
            "kindField",
            "The field giving the object's kind.",
        ),
        (
            "name_field",
            "nameField",
            "The field giving the object's name (default: its id).",
        ),
        (
            "path_field",
            "pathField",
            "The field giving the object's path.",
        ),
        (
            "url_field",
            "urlField",
            "The field giving the object's URL.",
        ),
    ] {
        spellings(&mut p, &[ours, theirs], string(what));
    }
    let mut d = Map::new();
    url_props(&mut d);
    spellings(
        &mut d,
        &["id_field", "idField"],
        string("The deleted object's id (default: the resource's)."),
    );
    spellings(
        &mut d,
        &["date_field", "dateField"],
        string("When it was deleted."),
    );
    spellings(
        &mut d,
        &["date_format", "dateFormat"],
        string("The deletion date's format."),
    );
    spellings(
        &mut d,
        &["date_timezone", "dateTimezone"],
        string("The deletion date's zone."),
    );
    p.insert(
        "deleted".into(),
        json!({"type": "object", "additionalProperties": false,
        "required": ["url"], "properties": d,
        "description": "A list of deleted items: each becomes a delete event."}),
    );
    spellings(
        &mut p,
        &["created_check_tolerance", "createdCheckTolerance"],
        json!({"description": "Cloud Elements' tolerance: accepted, not used."}),
    );
    json!({
        "type": "object", "additionalProperties": false, "properties": p,
        "allOf": [
            {"required": ["url"]},
            {"oneOf": [{"required": ["id_field"]}, {"required": ["idField"]}]},
            {"oneOf": [{"required": ["dates"]}, {"required": ["datesConfiguration"]}]}
        ]
    })
}

/// The schema of a source's `config`.
pub fn config() -> Value {
    let resources = json!({"type": "object", "minProperties": 1, "additionalProperties": resource(),
        "description": "The resources polled, by name."});
    json!({
        "title": "RestConfig",
        "type": "object",
        "additionalProperties": false,
        "required": ["base_url"],
        "oneOf": [{"required": ["resources"]}, {"required": ["event.poller.configuration"]}],
        "properties": {
            "base_url": {"type": "string", "format": "uri", "description": "Where resource URLs are resolved."},
            "credentials": {"oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["kind"],
                 "properties": {"kind": {"const": "none"}}},
                bearer_credentials(),
                basic_credentials(),
                {"type": "object", "additionalProperties": false, "required": ["kind", "in", "name", "value"],
                 "properties": {"kind": {"const": "api_key"}, "in": {"enum": ["header", "query"]},
                    "name": {"type": "string", "minLength": 1}, "value": secret("The API key.")}},
                oauth_credentials()
            ]},
            "oauth": {"type": "object", "additionalProperties": false, "required": ["token_url"],
                "properties": {
                    "token_url": {"type": "string", "format": "uri"},
                    "authorize_url": {"type": "string", "format": "uri"},
                    "scopes": {"type": "array", "items": {"type": "string"}},
                    "client_auth": {"enum": ["form", "basic"], "default": "form"}
                }},
            "resources": resources.clone(),
            "event.poller.configuration": {"description": "Cloud Elements' spelling of `resources` (an object, or that object as a JSON string).",
                "oneOf": [resources, {"type": "string"}]},
            "start": {"type": "string", "default": "latest",
                "description": "`latest`, or an RFC 3339 time to read from."},
            "max_window_ms": integer(1, u64::MAX / 4, 86_400_000, "The longest window one poll reads."),
            "skew_ms": integer(0, u64::MAX / 4, 5_000, "How far behind now a window ends."),
            "request_timeout_ms": integer(1, 3_600_000, 30_000, "Timeout of each request."),
            "max_requests_per_poll": integer(1, u64::from(u32::MAX), 500, "Requests one poll may send."),
            "max_poll_time_ms": integer(1_000, u64::MAX / 4, 120_000, "Time one poll may take."),
            "max_response_bytes": integer(1024, 1024 * 1024 * 1024, tributary_http::DEFAULT_MAX_RESPONSE_BYTES, "The largest answer read."),
            "max_pages": integer(1, u64::from(u32::MAX), 100, "Pages one pass over a list may read."),
            "max_passes": integer(2, 100, 3, "Passes over a window before it is declared unstable."),
            "response_prefix": {"type": "string", "description": "Text removed from the start of a body."},
            "keep_raw": {"type": "boolean", "default": false},
            "poll": poll_policy()
        }
    })
}
