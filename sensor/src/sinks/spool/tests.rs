use std::{
    fs::{self, OpenOptions},
    io::Write as _,
    path::PathBuf,
    time::Duration,
};

use super::*;
use crate::sinks::Record;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-spool-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn rec(i: u64) -> Record {
    Record::new(format!("{{\"rule\":\"r\",\"n\":{i}}}"), 1_000 + i)
}

/// A record of about `size` bytes on disk.
fn big(i: u64, size: usize) -> Record {
    Record::new(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "p".repeat(size)), i)
}

fn n_of(r: &Record) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&r.json).unwrap();
    v["n"].as_u64().unwrap()
}

/// Reads and commits until the spool is empty; the records in order.
fn drain(r: &mut SpoolReader, batch: usize) -> Vec<Record> {
    let mut all = Vec::new();
    loop {
        let b = r.read(batch).unwrap();
        r.commit(&b).unwrap();
        if b.records.is_empty() {
            return all;
        }
        all.extend(b.records);
    }
}

#[test]
fn delivered_records_are_not_read_again_across_a_restart() {
    let d = dir("restart");
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    for i in 0..10 {
        w.append(&rec(i)).unwrap();
    }
    let b = r.read(4).unwrap();
    assert_eq!(b.records, (0..4).map(rec).collect::<Vec<_>>());
    r.commit(&b).unwrap();
    r.save().unwrap().unwrap();
    // Read but not committed: comes back after a restart (at-least-once).
    let _ = r.read(3).unwrap();
    drop((w, r));
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    w.append(&rec(10)).unwrap();
    assert_eq!(drain(&mut r, 100), (4..11).map(rec).collect::<Vec<_>>());
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn segments_roll_and_all_are_deleted_once_delivered() {
    let d = dir("roll");
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    for i in 0..20 {
        w.append(&big(i, 1 << 20)).unwrap();
    }
    assert!(segments(&d).unwrap().len() >= 3, "{:?}", segments(&d));
    assert_eq!(drain(&mut r, 3).len(), 20);
    // Caught up: the head segment went too.
    assert_eq!(segments(&d).unwrap(), Vec::<u64>::new());
    assert_eq!(r.bytes(), 0);
    w.append(&rec(1)).unwrap();
    assert_eq!(drain(&mut r, 3), [rec(1)]);
    fs::remove_dir_all(d).unwrap();
}

/// Item 4 of issue 15: with `max_bytes` below the old 8 MiB segment, the spool filled once
/// and refused everything after. Ten times its size goes through it now.
#[test]
fn a_small_spool_takes_alerts_for_as_long_as_they_are_delivered() {
    let d = dir("small");
    let max = MIN_MAX_BYTES;
    let (mut w, mut r) = open(&d, max).unwrap();
    let mut got = Vec::new();
    for round in 0..20u64 {
        for i in 0..100 {
            w.append(&big(round * 100 + i, 300)).unwrap();
        }
        assert!(w.bytes() <= max, "{}", w.bytes());
        got.extend(drain(&mut r, 30).iter().map(n_of));
        assert_eq!(r.bytes(), 0, "delivered: nothing left on disk");
    }
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_full_spool_refuses_and_takes_again_once_delivered() {
    let d = dir("full");
    let max = MIN_MAX_BYTES;
    let (mut w, r) = open(&d, max).unwrap();
    let mut taken = 0;
    for i in 0..1000 {
        match w.append(&big(i, 300)) {
            Ok(()) => taken += 1,
            Err(Refused::Full) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(
        (150..=220).contains(&taken),
        "{taken} records of ~330 bytes in 64 KiB"
    );
    let on_disk: u64 = segments(&d)
        .unwrap()
        .iter()
        .map(|n| fs::metadata(segment_path(&d, *n)).unwrap().len())
        .sum();
    assert_eq!(w.bytes(), on_disk, "the gauge is what the disk holds");
    assert!(on_disk <= max);
    // Restart while full: everything spooled is there, and it takes records once delivered.
    drop((w, r));
    let (mut w, mut r) = open(&d, max).unwrap();
    assert_eq!(w.bytes(), on_disk);
    assert!(matches!(w.append(&big(5000, 300)), Err(Refused::Full)));
    assert_eq!(drain(&mut r, 50).len(), taken);
    w.append(&big(5001, 300)).unwrap();
    assert_eq!(
        drain(&mut r, 50).iter().map(n_of).collect::<Vec<_>>(),
        [5001]
    );
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn the_segment_size_follows_max_bytes_and_the_volume() {
    assert_eq!(segment_bytes(1 << 30, None), 8 << 20);
    assert_eq!(segment_bytes(1 << 30, Some(1 << 20)), 128 << 10);
    assert_eq!(segment_bytes(64 << 10, Some(1 << 40)), 8 << 10);
    assert_eq!(segment_bytes(64 << 10, Some(4 << 10)), 4 << 10);
    let e = open(&dir("tiny"), 1000).err().unwrap().to_string();
    assert!(e.contains("max_bytes") && e.contains("65536"), "{e}");
}

/// The cursor in memory is the truth: a cursor file that cannot be written never sends a
/// delivered batch again; the save is retried after a pause and then sticks.
#[test]
fn a_cursor_that_cannot_be_saved_never_resends() {
    let d = dir("nosave");
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    for i in 0..10 {
        w.append(&rec(i)).unwrap();
    }
    // A directory where the temporary cursor goes: writing it fails.
    fs::create_dir_all(d.join("cursor.tmp").join("x")).unwrap();
    let b = r.read(4).unwrap();
    r.commit(&b).unwrap();
    assert!(matches!(r.save(), Some(Err(_))));
    assert!(r.save().is_none(), "not tried again before the pause");
    let b = r.read(100).unwrap();
    assert_eq!(b.records, (4..10).map(rec).collect::<Vec<_>>());
    r.commit(&b).unwrap();
    fs::remove_dir_all(d.join("cursor.tmp")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    r.save().unwrap().unwrap();
    drop((w, r));
    let (_w, mut r) = open(&d, 1 << 30).unwrap();
    assert!(drain(&mut r, 100).is_empty());
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_torn_or_bad_line_in_a_finished_segment_is_skipped() {
    let d = dir("torn");
    let (mut w, r) = open(&d, 1 << 30).unwrap();
    w.append(&rec(1)).unwrap();
    drop((w, r));
    // As a crash mid-write leaves it, after a line that is not a record.
    let seg = *segments(&d).unwrap().last().unwrap();
    let mut f = OpenOptions::new()
        .append(true)
        .open(segment_path(&d, seg))
        .unwrap();
    f.write_all(b"garbage line\n1\t{\"torn\":").unwrap();
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    w.append(&rec(2)).unwrap();
    let b = r.read(100).unwrap();
    assert_eq!(b.corrupt, 2);
    assert_eq!(b.records, [rec(1), rec(2)]);
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_cursor_into_a_deleted_segment_resumes_at_the_next() {
    let d = dir("stale");
    let (mut w, r) = open(&d, MIN_MAX_BYTES).unwrap();
    for i in 0..100 {
        w.append(&big(i, 300)).unwrap();
    }
    drop((w, r));
    let segs = segments(&d).unwrap();
    assert!(segs.len() >= 3, "{segs:?}");
    // A cursor saved in the first segment, which then went (its records were delivered).
    let first = fs::read_to_string(segment_path(&d, segs[0])).unwrap();
    let k = first.lines().count() as u64;
    fs::write(d.join("cursor"), format!("{} 10\n", segs[0])).unwrap();
    fs::remove_file(segment_path(&d, segs[0])).unwrap();
    let (_w, mut r) = open(&d, MIN_MAX_BYTES).unwrap();
    let got: Vec<u64> = drain(&mut r, 7).iter().map(n_of).collect();
    assert_eq!(
        got,
        (k..100).collect::<Vec<_>>(),
        "from the second segment's start"
    );
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_bad_cursor_names_the_file() {
    let d = dir("cursor");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("cursor"), "nonsense").unwrap();
    let e = open(&d, 1 << 20).err().unwrap().to_string();
    assert!(e.contains("cursor") && e.contains("nonsense"), "{e}");
    fs::remove_dir_all(d).unwrap();
}

#[path = "disk_full_tests.rs"]
mod disk_full;
