use super::*;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lanner-spool-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn rec(i: u64) -> Record {
    Record::new(format!("{{\"rule\":\"r\",\"n\":{i}}}"), 1_000 + i)
}

#[test]
fn delivered_records_are_not_read_again_across_a_restart() {
    let d = dir("restart");
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    for i in 0..10 {
        assert!(w.append(&rec(i)).unwrap());
    }
    let b = r.read(4).unwrap();
    assert_eq!(b.records, (0..4).map(rec).collect::<Vec<_>>());
    r.commit(&b).unwrap();
    // Read but not committed: comes back after a restart (at-least-once).
    let _ = r.read(3).unwrap();
    drop((w, r));
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    w.append(&rec(10)).unwrap();
    let b = r.read(100).unwrap();
    assert_eq!(b.records, (4..11).map(rec).collect::<Vec<_>>());
    r.commit(&b).unwrap();
    assert!(r.read(100).unwrap().records.is_empty());
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn segments_roll_and_are_deleted_once_delivered() {
    let d = dir("roll");
    let (mut w, mut r) = open(&d, 1 << 30).unwrap();
    let big = Record::new(format!("{{\"x\":\"{}\"}}", "a".repeat(1 << 20)), 1);
    for _ in 0..20 {
        assert!(w.append(&big).unwrap());
    }
    assert!(segments(&d).unwrap().len() >= 3, "{:?}", segments(&d));
    let mut n = 0;
    loop {
        let b = r.read(3).unwrap();
        if b.records.is_empty() {
            break;
        }
        n += b.records.len();
        r.commit(&b).unwrap();
    }
    assert_eq!(n, 20);
    assert_eq!(
        segments(&d).unwrap().len(),
        1,
        "only the head segment stays"
    );
    fs::remove_dir_all(d).unwrap();
}

#[test]
fn a_full_spool_refuses_and_torn_or_bad_lines_are_handled() {
    let d = dir("full");
    let (mut w, mut r) = open(&d, 100).unwrap();
    assert!(w.append(&rec(1)).unwrap());
    let mut refused = 0;
    for i in 0..10 {
        if !w.append(&rec(i)).unwrap() {
            refused += 1;
        }
    }
    assert!(refused > 0);
    drop(w);
    let seg = segment_path(&d, 0);
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(b"garbage line\n1\t{\"torn\":").unwrap();
    let b = r.read(100).unwrap();
    assert_eq!(b.corrupt, 1);
    assert!(b.records.iter().all(|x| !x.json.contains("torn")));
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
