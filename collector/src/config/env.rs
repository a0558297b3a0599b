//! `${env:VAR}` substitution, as the Collector's env provider does it.

/// Expands `${env:NAME}`, `${env:NAME:-default}` and the Collector's older `${NAME}` form;
/// `$$` stands for a literal `$`. A variable that is unset (and has no default) expands to the
/// empty string, as in the Collector; the names of such variables are returned so the caller
/// can warn about them.
pub(super) fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
            continue;
        }
        let Some(inner_and_rest) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = inner_and_rest.find('}') else {
            out.push('$');
            rest = after;
            continue;
        };
        let inner = &inner_and_rest[..end];
        let reference = inner.strip_prefix("env:").unwrap_or(inner);
        let (name, default) = match reference.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (reference, None),
        };
        if !is_env_name(name) {
            // Not ours (e.g. a `${file:...}` provider we do not have): leave it as written.
            out.push('$');
            rest = after;
            continue;
        }
        match lookup(name) {
            Some(value) => out.push_str(&value),
            None => match default {
                Some(default) => out.push_str(default),
                None => missing.push(name.to_string()),
            },
        }
        rest = &inner_and_rest[end + 1..];
    }
    out.push_str(rest);
    (out, missing)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4317".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_env_forms() {
        let (out, missing) = expand(
            "a: ${env:PORT}\nb: ${PORT}\nc: ${env:NOPE:-9}\nd: ${env:EMPTY:-x}\ne: $$5\nf: ${env:GONE}",
            env,
        );
        assert_eq!(out, "a: 4317\nb: 4317\nc: 9\nd: \ne: $5\nf: ");
        assert_eq!(missing, vec!["GONE".to_string()]);
    }

    #[test]
    fn leaves_other_text_alone() {
        let (out, missing) = expand("x: $HOME ${file:/a} ${unterminated", env);
        assert_eq!(out, "x: $HOME ${file:/a} ${unterminated");
        assert!(missing.is_empty());
    }
}
