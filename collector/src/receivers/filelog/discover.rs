//! Finding the files `include` names and `exclude` does not: each pattern's fixed leading
//! directory is walked only as deep as the pattern reaches.

use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Directory levels followed below a `**`.
const MAX_DEPTH: usize = 32;

/// Built `include` / `exclude`.
#[derive(Debug)]
pub struct Finder {
    roots: Vec<(PathBuf, usize)>,
    include: GlobSet,
    exclude: GlobSet,
}

fn glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("invalid glob {pattern:?}: {e}"))
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

impl Finder {
    /// Checks the patterns.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Finder, String> {
        if include.is_empty() {
            return Err("include must list at least one pattern".into());
        }
        let mut inc = GlobSetBuilder::new();
        let mut roots = Vec::new();
        for pattern in include {
            inc.add(glob(pattern)?);
            let mut root = PathBuf::new();
            let mut depth = 0usize;
            let mut magic = false;
            for component in Path::new(pattern).components() {
                let text = component.as_os_str().to_string_lossy();
                if magic || has_magic(&text) {
                    magic = true;
                    depth = if text == "**" || depth == MAX_DEPTH {
                        MAX_DEPTH
                    } else {
                        depth + 1
                    };
                } else if !matches!(component, Component::CurDir) {
                    root.push(component);
                }
            }
            if !magic {
                // A plain path: its parent is walked one level deep.
                let parent = root.parent().map(Path::to_path_buf).unwrap_or_default();
                roots.push((parent, 1));
            } else {
                roots.push((root, depth));
            }
        }
        let mut exc = GlobSetBuilder::new();
        for pattern in exclude {
            exc.add(glob(pattern)?);
        }
        Ok(Finder {
            roots,
            include: inc.build().map_err(|e| e.to_string())?,
            exclude: exc.build().map_err(|e| e.to_string())?,
        })
    }

    /// A test for paths `include` matches and `exclude` does not, usable on another thread.
    pub fn matcher(&self) -> impl Fn(&Path) -> bool + Send + 'static {
        let include = self.include.clone();
        let exclude = self.exclude.clone();
        move |path| include.is_match(path) && !exclude.is_match(path)
    }

    /// Directories worth watching for changes.
    pub fn watch_roots(&self) -> impl Iterator<Item = (&Path, bool)> {
        self.roots
            .iter()
            .map(|(p, depth)| (p.as_path(), *depth > 1))
    }

    /// Matching regular files (symlinks followed), sorted and without duplicates, and the
    /// matching paths that cannot be read as files.
    pub fn find(&self) -> Found {
        let mut found = Found::default();
        for (root, depth) in &self.roots {
            let start = if root.as_os_str().is_empty() {
                Path::new(".")
            } else {
                root.as_path()
            };
            self.walk(start, *depth, &mut found);
        }
        found.files.sort();
        found.files.dedup();
        found.skipped.sort();
        found.skipped.dedup();
        found
    }

    fn walk(&self, dir: &Path, depth: usize, found: &mut Found) {
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let matched = self.include.is_match(&path) && !self.exclude.is_match(&path);
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(err) => {
                    if matched {
                        found.skipped.push((path, Unusable::Stat(err.kind())));
                    }
                    continue;
                }
            };
            if meta.is_dir() {
                if matched {
                    found.skipped.push((path.clone(), Unusable::Directory));
                }
                self.walk(&path, depth - 1, found);
            } else if matched {
                if meta.is_file() {
                    found.files.push(path);
                } else {
                    found.skipped.push((path, Unusable::NotAFile));
                }
            }
        }
    }
}

/// What one walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Regular files to read.
    pub files: Vec<PathBuf>,
    /// Paths the patterns match that are not readable files.
    pub skipped: Vec<(PathBuf, Unusable)>,
}

/// Why a matching path is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unusable {
    /// A directory (its contents are still searched).
    Directory,
    /// A FIFO, socket or device: opening or reading it could block.
    NotAFile,
    /// `stat` failed: a dangling symlink, no permission on the path.
    Stat(std::io::ErrorKind),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::Directory => f.write_str("is a directory"),
            Unusable::NotAFile => f.write_str("not a regular file (FIFO, socket or device)"),
            Unusable::Stat(kind) => write!(f, "cannot stat: {kind}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_exclude_and_depth() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        for f in [
            "x.log",
            "y.txt",
            "x.log.1",
            "a/z.log",
            "a/b/deep.log",
            "skip.log",
        ] {
            std::fs::write(d.join(f), "1\n").unwrap();
        }
        let p = |s: &str| d.join(s).to_string_lossy().into_owned();
        let f = Finder::new(&[p("*.log"), p("x.log.1")], &[p("skip.log")]).unwrap();
        assert_eq!(f.find().files, vec![d.join("x.log"), d.join("x.log.1")]);
        let f = Finder::new(&[p("**/*.log")], &[]).unwrap();
        assert_eq!(
            f.find().files,
            vec![
                d.join("a/b/deep.log"),
                d.join("a/z.log"),
                d.join("skip.log"),
                d.join("x.log")
            ]
        );
        assert!(Finder::new(&[], &[]).is_err());
        assert!(Finder::new(&[p("[")], &[]).is_err());
    }

    #[test]
    fn matching_paths_that_are_not_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ok.log"), "1\n").unwrap();
        std::fs::create_dir(d.join("dir.log")).unwrap();
        std::fs::write(d.join("dir.log/inner.log"), "1\n").unwrap();
        std::os::unix::fs::symlink(d.join("missing"), d.join("dangling.log")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(d.join("fifo.log"))
            .status()
            .unwrap();
        assert!(made.success(), "mkfifo");
        let p = |s: &str| d.join(s).to_string_lossy().into_owned();
        let found = Finder::new(&[p("*.log")], &[]).unwrap().find();
        assert_eq!(found.files, vec![d.join("ok.log")]);
        assert_eq!(
            found.skipped,
            vec![
                (
                    d.join("dangling.log"),
                    Unusable::Stat(std::io::ErrorKind::NotFound)
                ),
                (d.join("dir.log"), Unusable::Directory),
                (d.join("fifo.log"), Unusable::NotAFile),
            ]
        );
        // Directories are still searched.
        let found = Finder::new(&[p("*/*.log")], &[]).unwrap().find();
        assert_eq!(found.files, vec![d.join("dir.log/inner.log")]);
    }
}
