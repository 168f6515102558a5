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
    #[error("{0}")]
    Bucket(String),
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
    // The audit logs are published beside the releases (they only grow, and are far too
    // large to copy into each release); each release links to them so `current/log/`
    // serves them.
    if root.join("log").is_dir() {
        std::os::unix::fs::symlink(Path::new("../../log"), release.join("log"))?;
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

/// Writes files under `root` in order, each atomically (written beside, then renamed
/// over): the audit logs beside the releases, where a file replaced (a partial tile
/// grown, a newer checkpoint) is never seen half-written.
pub fn write_files(root: &Path, files: &[(String, Vec<u8>)]) -> Result<(), SiteError> {
    for (rel, bytes) in files {
        let path = root.join(checked(rel)?);
        let parent = path
            .parent()
            .ok_or_else(|| SiteError::BadPath(rel.clone()))?;
        fs::create_dir_all(parent)?;
        let tmp = parent.join(format!(".tmp-{:08x}", rand_suffix()));
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
    }
    Ok(())
}

/// A file under `root`, if it is there.
pub fn read_file(root: &Path, rel: &str) -> Result<Option<Vec<u8>>, SiteError> {
    match fs::read(root.join(checked(rel)?)) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Where the site goes besides (or instead of) a directory: an S3-compatible bucket,
/// `s3://bucket[/prefix]`, with credentials and endpoint from the usual `AWS_*`
/// environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT` for S3-compatible services, `AWS_ALLOW_HTTP=true` for plain HTTP)
/// and any `options` given (the same keys, e.g. `aws_endpoint`), which win.
pub struct Bucket {
    store: object_store::aws::AmazonS3,
    prefix: String,
    description: String,
}

impl Bucket {
    pub fn open(url: &str, options: &[(&str, &str)]) -> Result<Bucket, SiteError> {
        let parsed = reqwest::Url::parse(url.trim()).map_err(|e| {
            SiteError::Bucket(format!(
                "the bucket `{url}` is not a URL such as s3://bucket/prefix ({e})"
            ))
        })?;
        if parsed.scheme() != "s3" {
            return Err(SiteError::Bucket(format!(
                "the bucket URL must start with s3://, not {}://",
                parsed.scheme()
            )));
        }
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| SiteError::Bucket("the bucket URL names no bucket".into()))?
            .to_owned();
        let prefix = parsed.path().trim_matches('/').to_owned();
        if !prefix.is_empty() {
            checked(&prefix)?;
        }
        // A bucket that does not answer fails the upload within a minute (then the job
        // retries with backoff), instead of the client retrying for three minutes.
        let client = |key| object_store::aws::AmazonS3ConfigKey::Client(key);
        let mut builder = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_retry(object_store::RetryConfig {
                max_retries: 2,
                retry_timeout: std::time::Duration::from_secs(30),
                ..Default::default()
            })
            .with_config(client(object_store::ClientConfigKey::Timeout), "20s")
            .with_config(client(object_store::ClientConfigKey::ConnectTimeout), "5s");
        for (key, value) in options {
            let key = key
                .parse::<object_store::aws::AmazonS3ConfigKey>()
                .map_err(|e| SiteError::Bucket(format!("`{key}` is not an S3 setting ({e})")))?;
            builder = builder.with_config(key, *value);
        }
        let store = builder
            .build()
            .map_err(|e| SiteError::Bucket(format!("cannot use the bucket {bucket}: {e}")))?;
        Ok(Bucket {
            store,
            description: format!("s3://{bucket}/{prefix}"),
            prefix,
        })
    }

    pub fn describe(&self) -> &str {
        &self.description
    }

    fn key(&self, rel: &str) -> object_store::path::Path {
        if self.prefix.is_empty() {
            object_store::path::Path::from(rel)
        } else {
            object_store::path::Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// An object of the bucket, if it is there.
    pub async fn get(&self, rel: &str) -> Result<Option<Vec<u8>>, SiteError> {
        use object_store::ObjectStore;
        checked(rel)?;
        match self.store.get(&self.key(rel)).await {
            Ok(got) => got.bytes().await.map(|b| Some(b.to_vec())).map_err(|e| {
                SiteError::Bucket(format!(
                    "reading {rel} from {} failed: {e}",
                    self.description
                ))
            }),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(SiteError::Bucket(format!(
                "reading {rel} from {} failed: {e}",
                self.description
            ))),
        }
    }

    /// Uploads every file. Each object is replaced in one PUT, so a reader gets either
    /// the old or the new file, never part of one; the entry pages go last, so what they
    /// point readers to is already there. Returns how many objects were written.
    pub async fn publish(&self, files: &[(String, Vec<u8>)]) -> Result<usize, SiteError> {
        use object_store::{Attribute, Attributes, ObjectStore, PutOptions, PutPayload};
        let mut ordered: Vec<&(String, Vec<u8>)> = files.iter().collect();
        ordered.sort_by_key(|(rel, _)| (rel.ends_with("index.html"), rel == "index.html"));
        for (rel, bytes) in ordered {
            checked(rel)?;
            let mut attributes = Attributes::new();
            attributes.insert(Attribute::ContentType, content_type(rel).into());
            // Short, so a CDN in front shows news within a minute.
            attributes.insert(Attribute::CacheControl, "public, max-age=30".into());
            self.store
                .put_opts(
                    &self.key(rel),
                    PutPayload::from(bytes.clone()),
                    PutOptions {
                        attributes,
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| {
                    SiteError::Bucket(format!(
                        "uploading {rel} to {} failed: {e}",
                        self.description
                    ))
                })?;
        }
        Ok(files.len())
    }
}

fn content_type(rel: &str) -> &'static str {
    match rel.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("atom") => "application/atom+xml",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    }
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
