//! Trace messages: `ResourceSpans` down to spans, their events, links and status.

use super::common::{AttributeCount, attribute, key_value, resource, scope};
use super::fields::{LastId, fixed32, fixed64, message, string, varint};
use super::{Result, TracesSummary};
use crate::Limits;
use crate::wire::reader::FieldReader;

pub(super) fn resource_spans(
    mut r: FieldReader<'_>,
    s: &mut TracesSummary,
    lim: &Limits,
) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => resource(message(&r, &f, "ResourceSpans.resource")?, lim)?,
            2 => {
                scope_spans(message(&r, &f, "ResourceSpans.scope_spans")?, s, lim)?;
                s.scope_spans += 1;
            }
            3 => {
                string(&f, "ResourceSpans.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn scope_spans(mut r: FieldReader<'_>, s: &mut TracesSummary, lim: &Limits) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => scope(message(&r, &f, "ScopeSpans.scope")?, lim)?,
            2 => {
                span(message(&r, &f, "ScopeSpans.spans")?, lim)?;
                s.spans += 1;
            }
            3 => {
                string(&f, "ScopeSpans.schema_url")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn span(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let (mut trace_id, mut span_id, mut parent) =
        (LastId::default(), LastId::default(), LastId::default());
    let mut attrs = AttributeCount::default();
    loop {
        // Attributes dominate span bytes; take them without building a `Field`.
        if let Some((b, off)) = r.take_short_len(0x4a) {
            attrs.add(lim, "Span.attributes", off)?;
            key_value(r.child_at(b, off)?, lim, 1)?;
            continue;
        }
        let Some(f) = r.next_field()? else { break };
        match f.number {
            1 => trace_id.set(&f, "Span.trace_id")?,
            2 => span_id.set(&f, "Span.span_id")?,
            3 => {
                string(&f, "Span.trace_state")?;
            }
            4 => parent.set(&f, "Span.parent_span_id")?,
            5 => {
                string(&f, "Span.name")?;
            }
            6 => {
                varint(&f, "Span.kind")?;
            }
            7 => {
                fixed64(&f, "Span.start_time_unix_nano")?;
            }
            8 => {
                fixed64(&f, "Span.end_time_unix_nano")?;
            }
            9 => attribute(&r, &f, "Span.attributes", lim, &mut attrs)?,
            10 => {
                varint(&f, "Span.dropped_attributes_count")?;
            }
            11 => event(message(&r, &f, "Span.events")?, lim)?,
            12 => {
                varint(&f, "Span.dropped_events_count")?;
            }
            13 => link(message(&r, &f, "Span.links")?, lim)?,
            14 => {
                varint(&f, "Span.dropped_links_count")?;
            }
            15 => status(message(&r, &f, "Span.status")?)?,
            16 => {
                fixed32(&f, "Span.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("Span.trace_id", 16)?;
    span_id.check("Span.span_id", 8)?;
    parent.check("Span.parent_span_id", 8)
}

fn event(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => {
                fixed64(&f, "Span.Event.time_unix_nano")?;
            }
            2 => {
                string(&f, "Span.Event.name")?;
            }
            3 => attribute(&r, &f, "Span.Event.attributes", lim, &mut attrs)?,
            4 => {
                varint(&f, "Span.Event.dropped_attributes_count")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}

fn link(mut r: FieldReader<'_>, lim: &Limits) -> Result<()> {
    let (mut trace_id, mut span_id) = (LastId::default(), LastId::default());
    let mut attrs = AttributeCount::default();
    while let Some(f) = r.next_field()? {
        match f.number {
            1 => trace_id.set(&f, "Span.Link.trace_id")?,
            2 => span_id.set(&f, "Span.Link.span_id")?,
            3 => {
                string(&f, "Span.Link.trace_state")?;
            }
            4 => attribute(&r, &f, "Span.Link.attributes", lim, &mut attrs)?,
            5 => {
                varint(&f, "Span.Link.dropped_attributes_count")?;
            }
            6 => {
                fixed32(&f, "Span.Link.flags")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    trace_id.check("Span.Link.trace_id", 16)?;
    span_id.check("Span.Link.span_id", 8)
}

fn status(mut r: FieldReader<'_>) -> Result<()> {
    while let Some(f) = r.next_field()? {
        match f.number {
            2 => {
                string(&f, "Status.message")?;
            }
            3 => {
                varint(&f, "Status.code")?;
            }
            _ => r.skip_unknown(&f)?,
        }
    }
    Ok(())
}
