//! The spool on a real, full tmpfs (item 3 of issue 15): it degrades, never loops.

use std::{fs, io::Write as _, time::Duration};

use super::{big, n_of};
use crate::sinks::spool::*;

#[test]
fn on_a_full_volume_the_spool_degrades_and_recovers() {
    if !lanner_tests::is_root() {
        lanner_tests::skip(
            "on_a_full_volume_the_spool_degrades_and_recovers",
            "needs root (mounts a tmpfs)",
        );
        return;
    }
    let disk = lanner_tests::Tmpfs::mount("spool-full", 256 << 10);
    let d = disk.path().join("http");
    // max_bytes far above the volume: the disk is the limit.
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    let (mut spooled, mut failed, mut paused) = (Vec::new(), 0, 0);
    for i in 0..1000 {
        match w.append(&big(i, 1000)) {
            Ok(()) => spooled.push(i),
            Err(Refused::Failed(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
                failed += 1;
            }
            Err(Refused::Paused) => paused += 1,
            Err(Refused::Full) => panic!("max_bytes is not the limit here"),
        }
    }
    assert!(spooled.len() > 100, "{} spooled", spooled.len());
    assert_eq!(
        failed, 1,
        "one failed write, then a pause: not a write per record"
    );
    assert_eq!(spooled.len() + failed + paused, 1000);
    // Only whole records on disk (the failed one was cut off).
    for n in segments(&d).unwrap() {
        let text = fs::read_to_string(segment_path(&d, n)).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "segment {n} torn");
    }
    // Fill whatever is left, so that the cursor cannot be saved either.
    let mut filler = fs::File::create(disk.path().join("filler")).unwrap();
    while filler.write(&[0; 4096]).is_ok_and(|n| n > 0) {}

    let mut got = Vec::new();
    let mut save_failures = 0;
    loop {
        let b = r.read(10).unwrap();
        assert_eq!(b.corrupt, 0);
        r.commit(&b).unwrap();
        if let Some(Err(e)) = r.save() {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
            save_failures += 1;
        }
        if b.records.is_empty() {
            break;
        }
        got.extend(b.records.iter().map(n_of));
    }
    assert!(
        save_failures >= 1,
        "the cursor could be saved on a full disk"
    );
    assert_eq!(
        got, spooled,
        "each spooled record once, in order: no resend"
    );
    for n in segments(&d).unwrap() {
        // At most the head segment, empty (the failed write was its first).
        let len = fs::metadata(segment_path(&d, n)).unwrap().len();
        assert_eq!(len, 0, "segment {n} delivered but still on disk");
    }
    assert_eq!(r.bytes(), 0);
    // The writer tries again at once (the reader freed space), the cursor once its pause is
    // over.
    w.append(&big(5000, 1000)).unwrap();
    let mut saved = false;
    for _ in 0..100 {
        if let Some(res) = r.save() {
            res.unwrap();
            saved = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(saved, "the cursor was never saved again");
    let b = r.read(10).unwrap();
    assert_eq!(b.records.iter().map(n_of).collect::<Vec<_>>(), [5000]);
}
