//! Trace messages: the request down to spans, their events, links and status.

use serde_json::Value;

use super::common::{attributes, resource, scope};
use super::scalar::{enumeration, span_id, string, trace_id, uint32, uint64};
use super::{DecodeOptions, Path, R, fields, list, parse};
use crate::otlp::collector::trace::v1::ExportTraceServiceRequest;
use crate::otlp::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};

pub(crate) fn traces(input: &[u8], options: &DecodeOptions) -> R<ExportTraceServiceRequest> {
    let v = parse(input)?;
    let root = Path::Root {
        any_id_length: options.any_id_length,
        limits: options.limits,
    };
    let mut out = ExportTraceServiceRequest::default();
    for (k, val) in fields(&v, &root)? {
        if matches!(k, "resourceSpans" | "resource_spans") {
            out.resource_spans = list(val, &root.key(k), resource_spans)?;
        }
    }
    Ok(out)
}

fn resource_spans(v: &Value, p: &Path<'_>) -> R<ResourceSpans> {
    let mut out = ResourceSpans::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "resource" => out.resource = Some(resource(val, &fp)?),
            "scopeSpans" | "scope_spans" => out.scope_spans = list(val, &fp, scope_spans)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn scope_spans(v: &Value, p: &Path<'_>) -> R<ScopeSpans> {
    let mut out = ScopeSpans::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "scope" => out.scope = Some(scope(val, &fp)?),
            "spans" => out.spans = list(val, &fp, span)?,
            "schemaUrl" | "schema_url" => out.schema_url = string(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn span_kind(name: &str) -> Option<i32> {
    span::SpanKind::from_str_name(name).map(|k| k as i32)
}

fn status_code(name: &str) -> Option<i32> {
    status::StatusCode::from_str_name(name).map(|c| c as i32)
}

fn span(v: &Value, p: &Path<'_>) -> R<Span> {
    let mut out = Span::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "traceState" | "trace_state" => out.trace_state = string(val, &fp)?,
            "parentSpanId" | "parent_span_id" => out.parent_span_id = span_id(val, &fp)?,
            "flags" => out.flags = uint32(val, &fp)?,
            "name" => out.name = string(val, &fp)?,
            "kind" => out.kind = enumeration(val, &fp, "SpanKind", span_kind)?,
            "startTimeUnixNano" | "start_time_unix_nano" => {
                out.start_time_unix_nano = uint64(val, &fp)?
            }
            "endTimeUnixNano" | "end_time_unix_nano" => out.end_time_unix_nano = uint64(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "events" => out.events = list(val, &fp, event)?,
            "droppedEventsCount" | "dropped_events_count" => {
                out.dropped_events_count = uint32(val, &fp)?
            }
            "links" => out.links = list(val, &fp, link)?,
            "droppedLinksCount" | "dropped_links_count" => {
                out.dropped_links_count = uint32(val, &fp)?
            }
            "status" => out.status = Some(span_status(val, &fp)?),
            _ => {}
        }
    }
    Ok(out)
}

fn event(v: &Value, p: &Path<'_>) -> R<span::Event> {
    let mut out = span::Event::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = uint64(val, &fp)?,
            "name" => out.name = string(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            _ => {}
        }
    }
    Ok(out)
}

fn link(v: &Value, p: &Path<'_>) -> R<span::Link> {
    let mut out = span::Link::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "traceId" | "trace_id" => out.trace_id = trace_id(val, &fp)?,
            "spanId" | "span_id" => out.span_id = span_id(val, &fp)?,
            "traceState" | "trace_state" => out.trace_state = string(val, &fp)?,
            "attributes" => out.attributes = attributes(val, &fp)?,
            "droppedAttributesCount" | "dropped_attributes_count" => {
                out.dropped_attributes_count = uint32(val, &fp)?
            }
            "flags" => out.flags = uint32(val, &fp)?,
            _ => {}
        }
    }
    Ok(out)
}

fn span_status(v: &Value, p: &Path<'_>) -> R<Status> {
    let mut out = Status::default();
    for (k, val) in fields(v, p)? {
        let fp = p.key(k);
        match k {
            "message" => out.message = string(val, &fp)?,
            "code" => out.code = enumeration(val, &fp, "StatusCode", status_code)?,
            _ => {}
        }
    }
    Ok(out)
}
