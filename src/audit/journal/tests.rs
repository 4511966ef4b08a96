//! The journal's promises: every record written once and in one piece, each waiting request
//! told its batch's outcome, events written with no one waiting, bounded batches.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::*;
use crate::audit::{Auditor, FileSinkConfig, Fsync, SinkConfig};

fn file_sink(path: &std::path::Path, fsync: Fsync) -> SinkConfig {
    SinkConfig::File(FileSinkConfig {
        path: path.to_owned(),
        rotate_bytes: None,
        rotate_keep: 0,
        fsync,
    })
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[derive(serde::Serialize)]
struct Line {
    task: usize,
    n: usize,
    pad: &'static str,
}

async fn many_tasks_record(fsync: Fsync) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let auditor = Auditor::start(&[file_sink(&path, fsync)], &dir.path().join("k"), true).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..32 {
        let auditor = auditor.clone();
        tasks.spawn(async move {
            for n in 0..50 {
                let line = Line {
                    task,
                    n,
                    pad: "a record of a realistic size, so batches span pages",
                };
                assert!(auditor.record(&line).await, "task {task} record {n}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let written = lines(&path);
    assert_eq!(written.len(), 32 * 50);
    let distinct: HashSet<_> = written.iter().collect();
    assert_eq!(distinct.len(), written.len(), "each record once");
    for l in &written {
        let v: serde_json::Value = serde_json::from_str(l).expect("whole lines only");
        assert!(v["task"].is_u64() && v["n"].is_u64());
    }
    assert_eq!(auditor.stats(), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_are_each_written_once_and_acknowledged() {
    many_tasks_record(Fsync::Never).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batches_that_sync_to_disk_are_written_on_a_blocking_thread_and_acknowledged() {
    many_tasks_record(Fsync::Always).await;
}

#[tokio::test]
async fn a_single_threaded_runtime_records_too() {
    many_tasks_record(Fsync::Interval(std::time::Duration::from_millis(1))).await;
}

#[tokio::test]
async fn a_sink_that_refuses_fails_the_request_closed_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    // Every write to /dev/full fails with ENOSPC.
    let sinks = [file_sink(std::path::Path::new("/dev/full"), Fsync::Never)];
    let closed = Auditor::start(&sinks, &dir.path().join("k"), true).unwrap();
    assert!(!closed.record(&serde_json::json!({"n": 1})).await);
    assert_eq!(closed.stats().1, 1);
    let open = Auditor::start(&sinks, &dir.path().join("k"), false).unwrap();
    assert!(
        open.record(&serde_json::json!({"n": 1})).await,
        "fail_closed = false answers"
    );
    assert_eq!(open.stats().1, 1, "and still counts the failure");
}

#[test]
fn an_event_is_written_with_no_one_waiting_and_outside_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let auditor = Auditor::start(
        &[file_sink(&path, Fsync::Always)],
        &dir.path().join("k"),
        true,
    )
    .unwrap();
    auditor.event(crate::audit::AuditRecord::event(
        "policy_reload",
        serde_json::json!({"ok": true}),
    ));
    let written = lines(&path);
    assert_eq!(written.len(), 1);
    assert!(written[0].contains("\"policy_reload\""));
}

fn journal(path: &std::path::Path) -> Arc<Journal> {
    let (sinks, _) = Sinks::open(
        &[file_sink(path, Fsync::Never)],
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    Arc::new(Journal::new(sinks))
}

#[test]
fn records_gather_while_a_writer_is_at_work_and_a_full_batch_pushes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let journal = journal(&path);
    let Appended::Write(writer) = journal.append(b"first\n", true) else {
        panic!("no writer was at work: the first record takes the role");
    };
    let mut outcomes = Vec::new();
    for i in 0..MAX_OPEN_RECORDS - 1 {
        match journal.append(format!("r{i}\n").as_bytes(), true) {
            Appended::Wait(o) => outcomes.push(o),
            _ => panic!("a writer is at work: records wait"),
        }
    }
    assert!(matches!(
        journal.append(b"event\n", false),
        Appended::Queued
    ));
    assert_eq!(journal.depth(), MAX_OPEN_RECORDS);
    let Appended::Full(full) = journal.append(b"late\n", true) else {
        panic!("past the bound a request waits for room");
    };
    assert!(matches!(journal.append(b"e\n", false), Appended::Refused));
    assert!(outcomes.iter().all(|o| o.get().is_none()));
    // Outside a runtime the writer writes everything here, and settles every batch.
    assert!(matches!(journal.write_inline(writer), Written::Done(true)));
    assert!(outcomes.iter().all(|o| o.get() == Some(true)));
    assert_eq!(full.get(), Some(true));
    assert_eq!(journal.depth(), 0);
    let written = lines(&path);
    assert_eq!(written.len(), MAX_OPEN_RECORDS + 1);
    assert_eq!(written[0], "first");
    assert_eq!(written[MAX_OPEN_RECORDS], "event");
    // The role was given back: the next record writes itself.
    assert!(matches!(
        journal.append(b"next\n", true),
        Appended::Write(_)
    ));
}

#[test]
fn events_left_open_are_written_when_the_last_handle_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let journal = journal(&path);
    let Appended::Write(writer) = journal.append(b"a\n", false) else {
        panic!("the first append takes the writer role");
    };
    assert!(matches!(journal.append(b"b\n", false), Appended::Queued));
    // The writer role ends without the runtime that would carry it on (a dropped hand-off).
    drop(HandOff {
        journal: journal.clone(),
        writer: Some(writer),
    });
    drop(journal);
    assert_eq!(lines(&path), ["a", "b"]);
}

#[tokio::test]
async fn flush_waits_for_what_was_appended_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let auditor = Auditor::start(
        &[file_sink(&path, Fsync::Always)],
        &dir.path().join("k"),
        true,
    )
    .unwrap();
    for i in 0..10 {
        auditor.event(crate::audit::AuditRecord::event(
            "renewal",
            serde_json::json!({ "i": i }),
        ));
    }
    assert!(auditor.flush(std::time::Duration::from_secs(5)).await);
    assert_eq!(lines(&path).len(), 10);
}
