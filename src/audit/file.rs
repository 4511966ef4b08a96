//! The file sink: appends batches, reopens after SIGHUP or a failed write, rotates by size
//! (`audit.jsonl` -> `audit.jsonl.1` ... `.N`) and syncs to disk as configured.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// When written records are forced to disk (`fsync` under `[audit]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Left to the kernel's writeback (the default, as Vault's file device does).
    Never,
    /// `fdatasync` after every batch, before any record in it is acknowledged.
    Always,
    /// `fdatasync` on the first batch written after the interval has passed since the last.
    Interval(Duration),
}

/// A file sink's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSinkConfig {
    pub path: PathBuf,
    /// Rotate before a batch would take the file past this size (`None`: never; logrotate).
    pub rotate_bytes: Option<u64>,
    /// Rotated files kept (`.1` is the newest); older ones are deleted.
    pub rotate_keep: usize,
    pub fsync: Fsync,
}

#[derive(Debug)]
pub(super) struct FileSink {
    config: FileSinkConfig,
    file: Option<File>,
    /// Bytes in the current file, tracked so rotation needs no `stat` per batch.
    size: u64,
    last_sync: Instant,
}

impl FileSink {
    /// Opens the file now so that a wrong path stops startup with a clear error.
    pub(super) fn open(config: FileSinkConfig) -> std::io::Result<FileSink> {
        let (file, size) = open(&config.path)?;
        Ok(FileSink {
            config,
            file: Some(file),
            size,
            last_sync: Instant::now(),
        })
    }

    pub(super) fn name(&self) -> String {
        self.config.path.display().to_string()
    }

    /// Closes the file; the next write reopens the path (logrotate moved it).
    pub(super) fn reopen(&mut self) {
        self.file = None;
    }

    /// Whether the next write of `len` bytes syncs to disk or rotates (both may take
    /// milliseconds), as opposed to an append to the page cache.
    pub(super) fn may_block(&self, len: usize) -> bool {
        let rotates = self
            .config
            .rotate_bytes
            .is_some_and(|limit| self.size > 0 && self.size + len as u64 > limit);
        rotates
            || match self.config.fsync {
                Fsync::Never => false,
                Fsync::Always => true,
                Fsync::Interval(every) => self.last_sync.elapsed() >= every,
            }
    }

    pub(super) fn write(&mut self, batch: &[u8]) -> std::io::Result<()> {
        let result = self.write_inner(batch);
        if result.is_err() {
            // Reopen next time: the file may have been replaced or the disk freed.
            self.file = None;
        }
        result
    }

    fn write_inner(&mut self, batch: &[u8]) -> std::io::Result<()> {
        if let Some(limit) = self.config.rotate_bytes {
            let len = batch.len() as u64;
            if self.size > 0 && self.size + len > limit {
                self.rotate()?;
            }
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let (file, size) = open(&self.config.path)?;
                self.size = size;
                self.file.insert(file)
            }
        };
        file.write_all(batch)?;
        self.size += batch.len() as u64;
        let sync = match self.config.fsync {
            Fsync::Never => false,
            Fsync::Always => true,
            Fsync::Interval(every) => self.last_sync.elapsed() >= every,
        };
        if sync {
            file.sync_data()?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Shifts `path.i` to `path.i+1` (dropping the oldest) and starts a fresh file. With
    /// `rotate_keep = 0` the current file is simply replaced.
    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            // Whatever the fsync mode, a file leaves the active slot complete on disk.
            f.sync_data()?;
        }
        let path = &self.config.path;
        let keep = self.config.rotate_keep;
        if keep == 0 {
            remove_if_present(path)?;
        } else {
            remove_if_present(&numbered(path, keep))?;
            for i in (1..keep).rev() {
                rename_if_present(&numbered(path, i), &numbered(path, i + 1))?;
            }
            rename_if_present(path, &numbered(path, 1))?;
        }
        let (file, size) = open(path)?;
        self.file = Some(file);
        self.size = size;
        Ok(())
    }
}

/// `audit.jsonl.3` for `audit.jsonl` and 3.
pub fn numbered(path: &Path, i: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn open(path: &Path) -> std::io::Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let size = file.metadata()?.len();
    Ok((file, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_n_files_and_every_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let mut sink = FileSink::open(FileSinkConfig {
            path: path.clone(),
            rotate_bytes: Some(100),
            rotate_keep: 2,
            fsync: Fsync::Always,
        })
        .unwrap();
        for i in 0..10 {
            sink.write(format!("{{\"n\":{i:040}}}\n").as_bytes())
                .unwrap();
        }
        assert!(numbered(&path, 1).exists() && numbered(&path, 2).exists());
        assert!(!numbered(&path, 3).exists());
        let mut all = String::new();
        for p in [numbered(&path, 2), numbered(&path, 1), path.clone()] {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.len() <= 100);
            all.push_str(&text);
        }
        // 2 lines per file, 3 files: the last 6 of the 10 lines, in order.
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(lines[5].contains("9}"));
    }
}
