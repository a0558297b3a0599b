//! The one line an SMS carries, kept within one message: 160 characters of the GSM 03.38
//! 7-bit alphabet (extension characters such as `{`, `|`, `€` count twice), or 70 UTF-16
//! units when any character needs UCS-2.
//!
//! `FIRING:2 HttpCheckFailing http.url=http://x severity=critical since 14:02 UTC <link>`:
//! when it is too long the middle (labels, then the title) is cut with `...`; the links are
//! never cut. If even the links leave no room, the `since` part goes, then the second link.

use std::time::SystemTime;

use chrono::{DateTime, Utc};

use crate::extensions::alerting::notifiers::email::template::Context;
use crate::extensions::alerting::notifiers::{GroupStatus, Notification};

/// The GSM 03.38 basic character set (one septet each), without the escape.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: two septets each (escape + character).
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

/// How an SMS body is encoded, which decides its length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// GSM 03.38 7-bit: 160 septets.
    Gsm7,
    /// UCS-2: 70 UTF-16 units.
    Ucs2,
}

impl Encoding {
    /// The encoding `text` needs.
    pub(crate) fn of(text: &str) -> Encoding {
        if text.chars().all(|c| septets(c).is_some()) {
            Encoding::Gsm7
        } else {
            Encoding::Ucs2
        }
    }

    /// What fits in one message.
    pub(crate) fn limit(self) -> usize {
        match self {
            Encoding::Gsm7 => 160,
            Encoding::Ucs2 => 70,
        }
    }

    /// The length of `text` in this encoding (septets or UTF-16 units).
    pub(crate) fn cost(self, text: &str) -> usize {
        match self {
            Encoding::Gsm7 => text.chars().map(|c| septets(c).unwrap_or(1)).sum(),
            Encoding::Ucs2 => text.encode_utf16().count(),
        }
    }
}

/// Septets `c` takes in GSM-7, `None` if it has no GSM-7 form.
fn septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The SMS line for `n`.
pub(crate) fn line(n: &Notification) -> String {
    let context = Context::new(n);
    let firing = context.firing_count;
    let status = match n.status {
        GroupStatus::Firing if firing > 1 => format!("FIRING:{firing}"),
        GroupStatus::Firing => "FIRING".to_owned(),
        GroupStatus::Resolved => "RESOLVED".to_owned(),
    };
    let head = clean(&format!("{status} {}", context.title));
    let middle: Vec<String> = context
        .extra_labels
        .iter()
        .map(|(k, v)| clean(&format!("{k}={v}")))
        .collect();
    let when = match n.status {
        GroupStatus::Firing => n
            .alerts
            .iter()
            .filter(|a| !a.is_resolved())
            .map(|a| a.starts_at)
            .min()
            .map(|t| format!("since {}", hhmm(t))),
        GroupStatus::Resolved => n
            .alerts
            .iter()
            .filter_map(|a| a.ends_at)
            .max()
            .map(|t| format!("ended {}", hhmm(t))),
    };
    let mut links: Vec<String> = Vec::new();
    let generator = n.alerts.first().and_then(|a| a.generator_url.as_deref());
    for link in [Some(n.external_url.as_str()), generator]
        .into_iter()
        .flatten()
    {
        let link = clean(link);
        if !link.is_empty() && !links.contains(&link) {
            links.push(link);
        }
    }
    compose(&head, &middle, when.as_deref(), &links)
}

/// `14:02 UTC`.
fn hhmm(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).format("%H:%M UTC").to_string()
}

/// One line: control characters (line breaks) become spaces, runs of spaces one.
fn clean(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `head middle… when links`, within one SMS.
pub(crate) fn compose(
    head: &str,
    middle: &[String],
    when: Option<&str>,
    links: &[String],
) -> String {
    let middle = middle.join(" ");
    let when = when.unwrap_or("");
    let all_links = links.join(" ");
    let first_link = links.first().map_or("", String::as_str);
    let full = join(&[head, &middle, when, &all_links]);
    let encoding = Encoding::of(&full);
    let limit = encoding.limit();
    if encoding.cost(&full) <= limit {
        return full;
    }
    let text = join(&[head, &middle]);
    // Tails from the most to the least informative; the last is taken whatever room it
    // leaves, since a link is never cut.
    let tails = [
        join(&[when, &all_links]),
        all_links.clone(),
        first_link.to_owned(),
    ];
    for (i, tail) in tails.iter().enumerate() {
        let last = i == tails.len() - 1;
        let room = limit.saturating_sub(encoding.cost(tail) + usize::from(!tail.is_empty()));
        // Enough for the status and a few characters of the title.
        if room < encoding.cost(head).min(20) && !last {
            continue;
        }
        return join(&[&cut(&text, room, encoding), tail]);
    }
    unreachable!("the last tail is always taken")
}

/// `text`, or its start followed by `...`, within `room`; empty if not even `...` fits.
fn cut(text: &str, room: usize, encoding: Encoding) -> String {
    if encoding.cost(text) <= room {
        return text.to_owned();
    }
    let marker = "...";
    let Some(room) = room.checked_sub(encoding.cost(marker)) else {
        return String::new();
    };
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let c_cost = encoding.cost(c.encode_utf8(&mut [0; 4]));
        if used + c_cost > room {
            break;
        }
        used += c_cost;
        out.push(c);
    }
    let kept = out.trim_end();
    if kept.is_empty() {
        marker.to_owned()
    } else {
        format!("{kept}{marker}")
    }
}
