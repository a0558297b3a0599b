//! Finding the files `include` names and `exclude` does not: each pattern's fixed leading
//! directory is walked only as deep as the pattern reaches, and every directory is listed once
//! per walk however many patterns start in it. Each file's `stat` is kept with its path, so a
//! poll can tell unchanged files without opening them.

use std::collections::{BTreeMap, HashMap};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::identity::FileId;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Directory levels followed below a `**`.
const MAX_DEPTH: usize = 32;

/// Built `include` / `exclude`.
#[derive(Debug)]
pub(crate) struct Finder {
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
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Result<Finder, String> {
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
        // One walk per directory: patterns sharing a root are walked together, as deep as the
        // deepest of them reaches.
        let mut merged: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for (root, depth) in roots {
            let d = merged.entry(root).or_insert(0);
            *d = (*d).max(depth);
        }
        let roots: Vec<(PathBuf, usize)> = merged.into_iter().collect();
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
    pub(crate) fn matcher(&self) -> impl Fn(&Path) -> bool + Send + 'static {
        let include = self.include.clone();
        let exclude = self.exclude.clone();
        move |path| include.is_match(path) && !exclude.is_match(path)
    }

    /// Directories worth watching for changes.
    pub(crate) fn watch_roots(&self) -> impl Iterator<Item = (&Path, bool)> {
        self.roots
            .iter()
            .map(|(p, depth)| (p.as_path(), *depth > 1))
    }

    /// Whether `include` matches `path` and `exclude` does not.
    pub(crate) fn is_match(&self, path: &Path) -> bool {
        self.include.is_match(path) && !self.exclude.is_match(path)
    }

    /// Matching regular files (symlinks followed) with their `stat`, sorted and without
    /// duplicates, and the matching paths that cannot be read as files.
    pub(crate) fn find(&self) -> Found {
        let mut found = Found::default();
        let mut listed = HashMap::new();
        for (root, depth) in &self.roots {
            let start = if root.as_os_str().is_empty() {
                Path::new(".")
            } else {
                root.as_path()
            };
            self.walk(start, *depth, &mut found, &mut listed);
        }
        found.files.sort_by(|a, b| a.path.cmp(&b.path));
        found.files.dedup_by(|a, b| a.path == b.path);
        found.skipped.sort();
        found.skipped.dedup();
        found
    }

    /// Lists `dir` unless this walk already listed it at least `depth` deep (nested roots,
    /// or symlinks back into a root).
    fn walk(
        &self,
        dir: &Path,
        depth: usize,
        found: &mut Found,
        listed: &mut HashMap<PathBuf, usize>,
    ) {
        if depth == 0 || listed.get(dir).is_some_and(|&d| d >= depth) {
            return;
        }
        listed.insert(dir.to_path_buf(), depth);
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
                self.walk(&path, depth - 1, found, listed);
            } else if matched {
                if meta.is_file() {
                    found.files.push(Listed {
                        path,
                        stat: Stat::of(&meta),
                    });
                } else {
                    found.skipped.push((path, Unusable::NotAFile));
                }
            }
        }
    }
}

/// What a file's `stat` said: enough to tell that it did not change since the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Device and inode.
    pub id: FileId,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl Stat {
    /// From `metadata` (symlinks followed).
    pub(crate) fn of(meta: &Metadata) -> Stat {
        Stat {
            id: FileId {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// A matching regular file.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// Where it was found.
    pub path: PathBuf,
    /// Its `stat` at that moment.
    pub stat: Stat,
}

/// Looks at one path (an event named it): its `stat` if it is a regular file.
pub(crate) fn look(path: &Path) -> Result<Stat, Unusable> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(Stat::of(&meta)),
        Ok(meta) if meta.is_dir() => Err(Unusable::Directory),
        Ok(_) => Err(Unusable::NotAFile),
        Err(err) => Err(Unusable::Stat(err.kind())),
    }
}

/// What one walk found.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Regular files to read.
    pub files: Vec<Listed>,
    /// Paths the patterns match that are not readable files.
    pub skipped: Vec<(PathBuf, Unusable)>,
}

/// Why a matching path is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Unusable {
    /// A directory (its contents are still searched).
    Directory,
    /// A FIFO, socket or device: opening or reading it could block.
    NotAFile,
    /// `stat` failed: a dangling symlink, no permission on the path.
    Stat(std::io::ErrorKind),
}

impl Found {
    /// The files' paths.
    #[cfg(test)]
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }
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
        assert_eq!(f.find().paths(), vec![d.join("x.log"), d.join("x.log.1")]);
        let f = Finder::new(&[p("**/*.log")], &[]).unwrap();
        assert_eq!(
            f.find().paths(),
            vec![
                d.join("a/b/deep.log"),
                d.join("a/z.log"),
                d.join("skip.log"),
                d.join("x.log")
            ]
        );
        // Two patterns in one directory: it is listed once and each file reported once.
        let f = Finder::new(&[p("*.log"), p("x.*"), p("*.txt")], &[]).unwrap();
        assert_eq!(f.roots.len(), 1);
        let found = f.find();
        assert_eq!(
            found.paths(),
            vec![
                d.join("skip.log"),
                d.join("x.log"),
                d.join("x.log.1"),
                d.join("y.txt")
            ]
        );
        let meta = std::fs::metadata(d.join("x.log")).unwrap();
        assert_eq!(found.files[1].stat, Stat::of(&meta));
        assert_eq!(found.files[1].stat.size, 2);
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
        assert_eq!(found.paths(), vec![d.join("ok.log")]);
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
        assert_eq!(found.paths(), vec![d.join("dir.log/inner.log")]);
    }
}
