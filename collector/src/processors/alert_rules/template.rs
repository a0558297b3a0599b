//! Annotation templates (minijinja): `{{ value }}`, `{{ threshold }}`, `{{ alertname }}`,
//! `{{ labels['host.name'] }}` (the alert's labels) and `{{ series['error.message'] }}` (every
//! attribute of the series — with an aggregation, of the one with the largest value) are in
//! scope.

use std::collections::BTreeMap;

use minijinja::Environment;

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env
}

/// Checks a template's syntax.
pub(crate) fn check(text: &str) -> Result<(), String> {
    env()
        .template_from_str(text)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Renders templates with one alert's context; a template that fails at render keeps its
/// source text and the error, so the alert still goes out.
pub(crate) fn render(
    templates: &BTreeMap<String, String>,
    alertname: &str,
    labels: &BTreeMap<String, String>,
    series: &BTreeMap<String, String>,
    value: f64,
    threshold: f64,
) -> BTreeMap<String, String> {
    if templates.is_empty() {
        return BTreeMap::new();
    }
    let env = env();
    let ctx = minijinja::context! { value, threshold, labels, series, alertname };
    templates
        .iter()
        .map(|(k, text)| {
            let out = env
                .render_str(text, &ctx)
                .unwrap_or_else(|e| format!("{text} (template error: {e})"));
            (k.clone(), out)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_value_threshold_and_dotted_labels() {
        let mut t = BTreeMap::new();
        t.insert(
            "summary".to_string(),
            "CPU {{ (value * 100) | round(1) }}% > {{ threshold }} on {{ labels['host.name'] }} ({{ alertname }})".to_string(),
        );
        let mut labels = BTreeMap::new();
        labels.insert("host.name".to_string(), "web-1".to_string());
        let out = render(&t, "HighCpu", &labels, &labels, 0.9512, 0.9);
        assert_eq!(out["summary"], "CPU 95.1% > 0.9 on web-1 (HighCpu)");
        assert!(check("{{ unclosed").is_err());
        t.insert("bad".into(), "{{ value | nosuchfilter }}".into());
        let out = render(&t, "HighCpu", &labels, &labels, 1.0, 0.9);
        assert!(out["bad"].contains("template error"), "{}", out["bad"]);
    }
}
