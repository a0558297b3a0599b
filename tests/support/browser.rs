//! Headless chromium for the console's whole-process tests: where the browser and the
//! `playwright-core` driver are, skipping (or failing under `CI=true`) when they are missing,
//! and running a driver script in `tests/console/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The browser: `LOOKOUT_CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub(crate) fn chromium() -> PathBuf {
    std::env::var_os("LOOKOUT_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser part cannot run here, if it cannot.
fn browser_missing(driver: &Path) -> Option<String> {
    if !chromium().exists() {
        return Some(format!(
            "{} is absent (apt-get install chromium)",
            chromium().display()
        ));
    }
    if !driver.join("node_modules").join("playwright-core").exists() {
        return Some(format!(
            "playwright-core is not installed (npm ci in {})",
            driver.display()
        ));
    }
    None
}

/// `tests/console/`, or `None` (skipped, with a message) where the browser cannot run, except
/// under `CI=true`, where it panics.
pub(crate) fn driver_or_skip() -> Option<PathBuf> {
    let driver = super::workspace_root().join("tests").join("console");
    match browser_missing(&driver) {
        None => Some(driver),
        Some(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the console's browser test cannot run under CI: {why}"
            );
            eprintln!("SKIPPED the browser part of the console test: {why}");
            None
        }
    }
}

/// Runs `node <driver>/<script>` with `env` (and the browser's path), within 3 minutes; its
/// output.
pub(crate) async fn drive(
    driver: &Path,
    script: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    let run = tokio::process::Command::new("node")
        .arg(driver.join(script))
        .current_dir(driver)
        .envs(env.iter().copied())
        .env("LOOKOUT_CHROMIUM", chromium())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser driver finished within 3 minutes")
        .expect("run node")
}

/// Where a browser run saves its screenshots: `LOOKOUT_CONSOLE_SCREENSHOTS` when set, else
/// `fallback` (a temporary directory of the test).
pub(crate) fn screenshot_dir(fallback: &Path) -> PathBuf {
    std::env::var_os("LOOKOUT_CONSOLE_SCREENSHOTS")
        .filter(|v| !v.is_empty())
        .map_or_else(|| fallback.to_path_buf(), PathBuf::from)
}

/// Asserts that the driver's run succeeded; on failure names `what` failed and prints the
/// driver's output and `log` (lookout's).
pub(crate) fn assert_driven(output: &std::process::Output, what: &str, log: &str) {
    assert!(
        output.status.success(),
        "{what} failed in the browser:\n{}\n{}\nlookout log:\n{log}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

/// Asserts that the driver saved a screenshot `<page>.png` of each page in `dir`.
pub(crate) fn assert_screenshots(dir: &Path, pages: &[&str]) {
    for page in pages {
        assert!(
            dir.join(format!("{page}.png")).exists(),
            "screenshot of {page}"
        );
    }
}
