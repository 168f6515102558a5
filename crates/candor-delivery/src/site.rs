//! Publishing the backup status site to a directory, atomically: each version is written
//! in full to `releases/<stamp>/`, then the `current` symlink is swapped to it with one
//! rename, so a web server serving `current/` never sees a half-written site. Older
//! releases beyond the last few are removed.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// How many older releases to keep beside the current one.
pub const KEEP_RELEASES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("`{0}` is not a relative path inside the site")]
    BadPath(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn checked(rel: &str) -> Result<PathBuf, SiteError> {
    let path = Path::new(rel);
    let ok = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(SiteError::BadPath(rel.to_owned()))
    }
}

/// Writes `files` as a new release under `root` and makes it current. Returns the
/// release's directory.
pub fn publish_dir(
    root: &Path,
    stamp: &str,
    files: &[(String, Vec<u8>)],
) -> Result<PathBuf, SiteError> {
    let releases = root.join("releases");
    fs::create_dir_all(&releases)?;
    let name = format!("{stamp}-{:08x}", rand_suffix());
    let release = releases.join(&name);
    fs::create_dir(&release)?;
    for (rel, bytes) in files {
        let path = release.join(checked(rel)?);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut f = fs::File::create(&path)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::File::open(&release)?.sync_all()?;
    // The swap: a new symlink beside `current`, renamed over it (atomic on POSIX).
    let tmp = root.join(format!(".current-{name}"));
    std::os::unix::fs::symlink(Path::new("releases").join(&name), &tmp)?;
    fs::rename(&tmp, root.join("current"))?;
    fs::File::open(root)?.sync_all()?;
    prune(&releases, &name)?;
    Ok(release)
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() as u32
}

fn prune(releases: &Path, current: &str) -> Result<(), SiteError> {
    let mut names: Vec<String> = fs::read_dir(releases)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != current)
        .collect();
    // Stamps sort by time; keep the newest few in case a reader still holds one.
    names.sort();
    let excess = names.len().saturating_sub(KEEP_RELEASES);
    for old in names.into_iter().take(excess) {
        fs::remove_dir_all(releases.join(old))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_publish_swaps_current_to_a_complete_release_and_prunes_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        for n in 0..6 {
            let body = format!("version {n}");
            publish_dir(
                dir.path(),
                &format!("2026112210000{n}"),
                &[
                    ("index.html".into(), body.clone().into_bytes()),
                    ("nl/index.html".into(), body.clone().into_bytes()),
                ],
            )
            .unwrap();
            let current = dir.path().join("current");
            assert_eq!(
                fs::read_to_string(current.join("index.html")).unwrap(),
                body
            );
            assert_eq!(
                fs::read_to_string(current.join("nl/index.html")).unwrap(),
                body
            );
        }
        let releases = fs::read_dir(dir.path().join("releases")).unwrap().count();
        assert_eq!(releases, KEEP_RELEASES + 1);
        // No stray temporary links are left behind.
        let stray = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".current"))
            .count();
        assert_eq!(stray, 0);
    }

    #[test]
    fn paths_outside_the_site_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../escape.html", "/etc/passwd", "", "a/../../b"] {
            assert!(
                publish_dir(dir.path(), "1", &[(bad.into(), b"x".to_vec())]).is_err(),
                "{bad}"
            );
        }
    }
}
