//! The routing tree: which notifiers an alert goes to, and how its group is timed — as
//! Alertmanager's `dispatch/route.go`. An alert enters at the root; the first child whose
//! matchers all match takes it (more children when that child sets `continue`), recursively;
//! a node none of whose children match takes it itself. Children inherit every setting they
//! do not set.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use regex::Regex;

use super::config::RouteConfig;

/// How one label is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// One `name op "value"` matcher (Alertmanager's syntax: `=`, `!=`, `=~`, `!~`). A missing
/// label reads as the empty string; regexes are anchored at both ends.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Parses `severity = "critical"`, `service.name=~"check.*"`, `env!=prod`.
    pub(crate) fn parse(text: &str) -> Result<Matcher, String> {
        let t = text.trim();
        let at = t
            .find(['=', '!'])
            .ok_or_else(|| format!("{text:?}: expected name, one of = != =~ !~, and a value"))?;
        let name = t[..at].trim();
        let rest = &t[at..];
        let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
            (MatchOp::Regex, r)
        } else if let Some(r) = rest.strip_prefix("!~") {
            (MatchOp::NotRegex, r)
        } else if let Some(r) = rest.strip_prefix("!=") {
            (MatchOp::NotEqual, r)
        } else if let Some(r) = rest.strip_prefix('=') {
            (MatchOp::Equal, r)
        } else {
            return Err(format!(
                "{text:?}: expected one of = != =~ !~ after {name:?}"
            ));
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(format!("{text:?}: invalid label name {name:?}"));
        }
        let value = unquote(rest.trim()).map_err(|e| format!("{text:?}: {e}"))?;
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("{text:?}: invalid regex: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value,
            regex,
        })
    }

    /// Whether `labels` satisfy the matcher.
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let v = labels.get(&self.name).map_or("", String::as_str);
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{:?}", self.name, self.value)
    }
}

/// A double-quoted value with `\"` and `\\` escapes, or a bare word.
fn unquote(s: &str) -> Result<String, String> {
    let Some(inner) = s.strip_prefix('"') else {
        if s.contains('"') {
            return Err("unbalanced quote".into());
        }
        return Ok(s.to_string());
    };
    let inner = inner.strip_suffix('"').ok_or("missing closing quote")?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(c) => out.push(c),
                None => return Err("dangling backslash".into()),
            },
            '"' => return Err("unescaped quote inside the value".into()),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Which labels make an alert's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GroupBy {
    /// `['...']`: every label, so each alert is its own group.
    All,
    /// These labels (none: one group for the route).
    Labels(Vec<String>),
}

impl GroupBy {
    /// The group labels of an alert with `labels`.
    pub(crate) fn group_labels(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> BTreeMap<String, String> {
        match self {
            GroupBy::All => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// A group's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Wait before a new group's first notification, to collect more alerts.
    pub(crate) group_wait: Duration,
    /// Wait between notifications about changes of a group.
    pub(crate) group_interval: Duration,
    /// Wait before re-sending an unchanged firing group.
    pub(crate) repeat_interval: Duration,
}

/// One node of the tree with its inherited settings resolved.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// Position in the tree (`0`, `0/1`, ...), part of the group key.
    pub(crate) key: String,
    matchers: Vec<Matcher>,
    /// Names of the notifiers of this node's groups.
    pub(crate) notifiers: Vec<String>,
    pub(crate) group_by: GroupBy,
    pub(crate) timing: Timing,
    continue_: bool,
    children: Vec<Route>,
}

impl Route {
    /// Builds the tree from the root's config. Errors carry the key path
    /// (`route.routes[1].matchers[0]: ...`).
    pub(crate) fn build(root: &RouteConfig) -> Result<Route, String> {
        let defaults = Route {
            key: String::new(),
            matchers: Vec::new(),
            notifiers: Vec::new(),
            group_by: GroupBy::Labels(Vec::new()),
            timing: Timing {
                group_wait: Duration::from_secs(30),
                group_interval: Duration::from_secs(300),
                repeat_interval: Duration::from_secs(4 * 3600),
            },
            continue_: false,
            children: Vec::new(),
        };
        if !root.matchers.is_empty() {
            return Err("route.matchers: the root route matches every alert; move the matchers to a child in route.routes".into());
        }
        if root.continue_ {
            return Err("route.continue: not allowed on the root route".into());
        }
        build_node(root, &defaults, "0".into(), "route")
    }

    /// The nodes that take an alert with `labels` (at least the root).
    pub(crate) fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        let mut out = Vec::new();
        self.collect(labels, &mut out);
        out
    }

    fn collect<'a>(&'a self, labels: &BTreeMap<String, String>, out: &mut Vec<&'a Route>) -> bool {
        if !self.matchers.iter().all(|m| m.matches(labels)) {
            return false;
        }
        let before = out.len();
        for child in &self.children {
            if child.collect(labels, out) && !child.continue_ {
                break;
            }
        }
        if out.len() == before {
            out.push(self);
        }
        true
    }

    /// Every node, root first, for checks.
    pub(crate) fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for c in &self.children {
            out.extend(c.walk());
        }
        out
    }
}

fn build_node(c: &RouteConfig, parent: &Route, key: String, path: &str) -> Result<Route, String> {
    let matchers = c
        .matchers
        .iter()
        .enumerate()
        .map(|(i, m)| Matcher::parse(m).map_err(|e| format!("{path}.matchers[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let group_by = match &c.group_by {
        None => parent.group_by.clone(),
        Some(names) if names.iter().any(|n| n == "...") => {
            if names.len() > 1 {
                return Err(format!(
                    "{path}.group_by: '...' groups by every label and stands alone"
                ));
            }
            GroupBy::All
        }
        Some(names) => GroupBy::Labels(names.clone()),
    };
    let timing = Timing {
        group_wait: c.group_wait.unwrap_or(parent.timing.group_wait),
        group_interval: c.group_interval.unwrap_or(parent.timing.group_interval),
        repeat_interval: c.repeat_interval.unwrap_or(parent.timing.repeat_interval),
    };
    if timing.group_interval.is_zero() {
        return Err(format!("{path}.group_interval must be > 0"));
    }
    if timing.repeat_interval.is_zero() {
        return Err(format!("{path}.repeat_interval must be > 0"));
    }
    let notifiers = c
        .notifiers
        .clone()
        .unwrap_or_else(|| parent.notifiers.clone());
    let mut node = Route {
        key,
        matchers,
        notifiers,
        group_by,
        timing,
        continue_: c.continue_,
        children: Vec::new(),
    };
    let children = c
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| {
            build_node(
                child,
                &node,
                format!("{}/{i}", node.key),
                &format!("{path}.routes[{i}]"),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    node.children = children;
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matchers_parse_alertmanager_syntax() {
        let l = labels(&[("severity", "critical"), ("service.name", "checkout")]);
        assert!(
            Matcher::parse(r#"severity = "critical""#)
                .unwrap()
                .matches(&l)
        );
        assert!(Matcher::parse("severity=critical").unwrap().matches(&l));
        assert!(
            !Matcher::parse(r#"severity != "critical""#)
                .unwrap()
                .matches(&l)
        );
        assert!(
            Matcher::parse(r#"service.name =~ "check.*""#)
                .unwrap()
                .matches(&l)
        );
        // Anchored: a substring does not match.
        assert!(
            !Matcher::parse(r#"service.name =~ "heck""#)
                .unwrap()
                .matches(&l)
        );
        assert!(
            Matcher::parse(r#"service.name !~ "heck""#)
                .unwrap()
                .matches(&l)
        );
        // A missing label is the empty string.
        assert!(Matcher::parse(r#"env = """#).unwrap().matches(&l));
        assert!(
            Matcher::parse(r#"x = "a\"b""#)
                .unwrap()
                .matches(&labels(&[("x", "a\"b")]))
        );
        for bad in [
            "severity",
            r#"= "x""#,
            r#"a =~ "(""#,
            r#"a = "x"#,
            r#"a b = "x""#,
        ] {
            assert!(Matcher::parse(bad).is_err(), "{bad}");
        }
    }

    fn tree(yaml: &str) -> Result<Route, String> {
        let c: RouteConfig = serde_yaml_ng::from_str(yaml).unwrap();
        Route::build(&c)
    }

    #[test]
    fn first_matching_child_wins_unless_continue() {
        let root = tree(
            r#"
notifiers: [log]
group_by: [alertname]
routes:
  - matchers: ['severity = "critical"']
    notifiers: [am]
    continue: true
  - matchers: ['service.name =~ "check.*"']
    notifiers: [hook]
    group_wait: 1s
  - matchers: ['service.name = "checkout"']
    notifiers: [never]
"#,
        )
        .unwrap();
        let keys = |l: &BTreeMap<String, String>| -> Vec<(String, Vec<String>)> {
            root.matching(l)
                .iter()
                .map(|r| (r.key.clone(), r.notifiers.clone()))
                .collect()
        };
        // No child matches: the root takes it.
        assert_eq!(
            keys(&labels(&[("alertname", "A")])),
            vec![("0".into(), vec!["log".into()])]
        );
        // `continue` on the first child lets the second one match too; the third never sees it.
        let l = labels(&[("severity", "critical"), ("service.name", "checkout")]);
        assert_eq!(
            keys(&l),
            vec![
                ("0/0".into(), vec!["am".into()]),
                ("0/1".into(), vec!["hook".into()])
            ]
        );
        let r = root.matching(&l)[1];
        assert_eq!(r.timing.group_wait, Duration::from_secs(1));
        assert_eq!(r.timing.group_interval, Duration::from_secs(300));
        assert_eq!(r.group_by, GroupBy::Labels(vec!["alertname".into()]));
        assert_eq!(root.walk().len(), 4);
    }

    #[test]
    fn errors_name_the_key_path() {
        let e =
            tree("notifiers: [a]\nroutes: [{routes: [{matchers: ['a =~ \"(\"']}]}]").unwrap_err();
        assert!(
            e.starts_with("route.routes[0].routes[0].matchers[0]:"),
            "{e}"
        );
        let e = tree("notifiers: [a]\nmatchers: ['a=b']").unwrap_err();
        assert!(e.starts_with("route.matchers"), "{e}");
        let e = tree("notifiers: [a]\ngroup_by: ['...', a]").unwrap_err();
        assert!(e.contains("group_by"), "{e}");
        let all = tree("notifiers: [a]\ngroup_by: ['...']").unwrap();
        assert_eq!(all.group_by, GroupBy::All);
    }
}
