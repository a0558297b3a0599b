//! `lookout validate` on bad configurations: exits non-zero and says which file, which line and
//! which key; an unknown component type lists the supported ones. A good config validates.

mod support;

use std::process::Command;

use support::{lookout_bin, validate};

const PIPELINES: &str = "service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
";

#[test]
fn good_config_validates() {
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nexporters:\n  debug:\n{PIPELINES}"
    );
    let (_dir, path, output) = validate(&config);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains(&path.display().to_string()) && stdout.contains("valid"),
        "{stdout}"
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    // Line 6 holds the misspelled key.
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n        max_recv_msg_size_mb: 4\nexporters:\n  debug:\n{PIPELINES}"
    );
    let (_dir, path, output) = validate(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "validate accepted an unknown key: {output:?}"
    );
    assert!(
        stderr.contains(&format!("{}:6", path.display())),
        "the error names the file and line 6: {stderr}"
    );
    assert!(
        stderr.contains("max_recv_msg_size_mb"),
        "the error names the key: {stderr}"
    );
}

#[test]
fn unknown_component_type_lists_supported_ones() {
    let config = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\n  kafka:\n    brokers: [x]\n{PIPELINES}"
    );
    let (_dir, path, output) = validate(&config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "validate accepted an unknown exporter type: {output:?}"
    );
    assert!(
        stderr.contains(&path.display().to_string()),
        "the error names the file: {stderr}"
    );
    assert!(
        stderr.contains("kafka"),
        "the error names the type: {stderr}"
    );
    for supported in ["otlp", "otlphttp", "file", "debug"] {
        assert!(
            stderr.contains(supported),
            "the error lists {supported}: {stderr}"
        );
    }
}

#[test]
fn pipeline_naming_an_undefined_exporter_is_rejected() {
    let config = "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp/missing]\n";
    let (_dir, path, output) = validate(config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        stderr.contains(&format!("{}:11:", path.display())),
        "file and line 11: {stderr}"
    );
    assert!(
        stderr.contains("otlp/missing"),
        "names the exporter: {stderr}"
    );
}

/// `validate` refuses what `run` used to refuse only when starting: an otlp receiver with no
/// protocol, filelog settings, an exporter endpoint. Each config is also run, and fails the
/// same way before binding anything.
#[test]
fn validate_refuses_what_run_refuses() {
    for (config, expected) in [
        (
            "receivers:\n  otlp:\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n",
            "no protocols enabled",
        ),
        (
            "receivers:\n  filelog:\n    include: [/x/*.log]\n    multiline:\n      line_start_pattern: '('\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [filelog]\n      exporters: [debug]\n",
            "multiline.line_start_pattern",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\nexporters:\n  otlp:\n    endpoint: tempo\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [otlp]\n",
            "expected host:port",
        ),
        (
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n    limits:\n      max_nesting_depth: 40\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [debug]\n",
            "limits.max_nesting_depth must be between 1 and 31",
        ),
    ] {
        let (dir, path, output) = validate(config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "validate accepted: {config}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        let run = Command::new(lookout_bin())
            .arg("--config")
            .arg(&path)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run lookout");
        let run_err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "run accepted: {config}");
        assert!(run_err.contains(expected), "{expected}: {run_err}");
    }
}

/// Every component type `lookout components` lists has a folder with a `testdata/config.yaml`
/// that `lookout validate` accepts.
#[test]
fn every_component_has_a_testdata_config_that_validates() {
    let listed = Command::new(lookout_bin())
        .arg("components")
        .output()
        .expect("run lookout components");
    assert!(listed.status.success(), "{listed:?}");
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut section = String::new();
    let mut checked = 0;
    for line in text.lines() {
        if let Some(name) = line.strip_suffix(':') {
            section = name.to_string();
            continue;
        }
        let Some(kind) = line.split_whitespace().next() else {
            continue;
        };
        let path = src.join(&section).join(kind).join("testdata/config.yaml");
        assert!(path.is_file(), "{section} {kind} has no {}", path.display());
        let output = Command::new(lookout_bin())
            .args(["validate", "--config"])
            .arg(&path)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run lookout validate");
        assert!(
            output.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} components listed:\n{text}");
}
