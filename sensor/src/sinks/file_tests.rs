use super::*;

/// A fresh directory under the temp dir, removed on drop (also when the test fails).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("lanner-filesink-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Self(d)
    }
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap()
    }
    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One line through [`FileSink::write_lines`].
fn put(s: &mut FileSink, line: &str) -> io::Result<()> {
    match s.write_lines(&[line]) {
        (1, None) => Ok(()),
        (_, Some(e)) => Err(e),
        (n, None) => panic!("{n} lines written for one"),
    }
}

#[test]
fn appends_across_reopen() {
    let d = Dir::new("reopen");
    let p = d.file("alerts.json");
    let mut s = FileSink::open(p.clone(), 0, 3).unwrap();
    put(&mut s, "{\"n\":1}").unwrap();
    put(&mut s, "{\"n\":2}").unwrap();
    drop(s);
    let mut s = FileSink::open(p.clone(), 0, 3).unwrap();
    assert_eq!(s.size, 16);
    put(&mut s, "{\"n\":3}").unwrap();
    drop(s);
    assert_eq!(d.read("alerts.json"), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    assert_eq!(d.names(), ["alerts.json"]);
}

#[test]
fn a_written_line_is_visible_at_once() {
    let d = Dir::new("flush");
    let mut s = FileSink::open(d.file("a"), 0, 0).unwrap();
    put(&mut s, "x").unwrap();
    assert_eq!(d.read("a"), "x\n");
}

#[test]
fn rotates_at_the_limit_keeping_two() {
    let d = Dir::new("rotate");
    let p = d.file("alerts.json");
    // Lines of 4 bytes with the newline; 12 bytes hold exactly 3.
    let mut s = FileSink::open(p.clone(), 12, 2).unwrap();
    for i in 0..3 {
        put(&mut s, &format!("a{i}{i}")).unwrap();
    }
    assert_eq!(
        d.names(),
        ["alerts.json"],
        "exactly at the limit is not over it"
    );
    put(&mut s, "b00").unwrap();
    assert_eq!(d.names(), ["alerts.json", "alerts.json.1"]);
    assert_eq!(d.read("alerts.json.1"), "a00\na11\na22\n");
    assert_eq!(d.read("alerts.json"), "b00\n");
    for i in 1..3 {
        put(&mut s, &format!("b{i}{i}")).unwrap();
    }
    for c in ['c', 'd', 'e'] {
        for i in 0..3 {
            put(&mut s, &format!("{c}{i}{i}")).unwrap();
        }
        assert_eq!(d.names(), ["alerts.json", "alerts.json.1", "alerts.json.2"]);
    }
    assert_eq!(d.read("alerts.json"), "e00\ne11\ne22\n");
    assert_eq!(d.read("alerts.json.1"), "d00\nd11\nd22\n");
    assert_eq!(d.read("alerts.json.2"), "c00\nc11\nc22\n");
    assert!(!d.file("alerts.json.3").exists());
}

#[test]
fn size_of_an_existing_file_counts() {
    let d = Dir::new("existing");
    let p = d.file("a");
    fs::write(&p, "0123456789\n").unwrap();
    let mut s = FileSink::open(p, 15, 1).unwrap();
    put(&mut s, "abc").unwrap(); // 11 + 4 = 15: fits
    put(&mut s, "d").unwrap(); // would be 17: rotate
    assert_eq!(d.read("a.1"), "0123456789\nabc\n");
    assert_eq!(d.read("a"), "d\n");
}

#[test]
fn keep_zero_deletes_the_full_file() {
    let d = Dir::new("keep0");
    let mut s = FileSink::open(d.file("a"), 8, 0).unwrap();
    for l in ["one", "two", "six", "ten"] {
        put(&mut s, l).unwrap();
    }
    assert_eq!(d.names(), ["a"]);
    assert_eq!(d.read("a"), "six\nten\n");
}

#[test]
fn an_oversized_line_gets_a_fresh_file_of_its_own() {
    let d = Dir::new("oversized");
    let mut s = FileSink::open(d.file("a"), 8, 3).unwrap();
    let big = "x".repeat(20);
    put(&mut s, "one").unwrap();
    put(&mut s, &big).unwrap();
    put(&mut s, "two").unwrap();
    assert_eq!(d.read("a.2"), "one\n");
    assert_eq!(d.read("a.1"), format!("{big}\n"));
    assert_eq!(d.read("a"), "two\n");
    // Into an empty file it goes without rotating.
    let mut s = FileSink::open(d.file("b"), 8, 3).unwrap();
    put(&mut s, &big).unwrap();
    assert_eq!(d.read("b"), format!("{big}\n"));
    assert!(!d.file("b.1").exists());
}

#[test]
fn zero_max_bytes_never_rotates() {
    let d = Dir::new("norotate");
    let mut s = FileSink::open(d.file("a"), 0, 2).unwrap();
    for _ in 0..1000 {
        put(&mut s, "0123456789").unwrap();
    }
    assert_eq!(d.names(), ["a"]);
    assert_eq!(fs::metadata(d.file("a")).unwrap().len(), 11_000);
}

#[test]
fn a_missing_directory_is_an_error_naming_the_path() {
    let d = Dir::new("missing");
    let p = d.file("nope").join("alerts.json");
    let e = FileSink::open(p.clone(), 0, 0).err().unwrap();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    assert!(
        e.to_string().starts_with(&format!("{}: ", p.display())),
        "{e}"
    );
    assert!(!d.file("nope").exists());
}

#[test]
fn a_failed_rotation_names_the_paths_and_keeps_writing_later() {
    let d = Dir::new("rotfail");
    let mut s = FileSink::open(d.file("a"), 4, 1).unwrap();
    put(&mut s, "one").unwrap();
    // A non-empty directory where a.1 should go: the rename onto it fails.
    fs::create_dir_all(d.file("a.1").join("x")).unwrap();
    let e = put(&mut s, "two").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&d.file("a").display().to_string()), "{msg}");
    assert!(msg.contains(&d.file("a.1").display().to_string()), "{msg}");
    fs::remove_dir_all(d.file("a.1")).unwrap();
    put(&mut s, "two").unwrap();
    assert_eq!(d.read("a.1"), "one\n");
    assert_eq!(d.read("a"), "two\n");
}

#[test]
fn a_directory_or_a_fifo_is_refused_naming_the_path() {
    let d = Dir::new("notfile");
    fs::create_dir(d.file("dir")).unwrap();
    let e = FileSink::open(d.file("dir"), 0, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains(&d.file("dir").display().to_string()), "{e}");
    let fifo = d.file("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Without a reader, opening a FIFO to write would block: it must not.
    let e = FileSink::open(fifo.clone(), 0, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("FIFO") && e.contains("regular file"), "{e}");
}

#[test]
fn a_batch_rotates_within_itself() {
    let d = Dir::new("batchrot");
    let mut s = FileSink::open(d.file("a"), 8, 2).unwrap();
    let (n, e) = s.write_lines(&["one", "two", "six", "ten", "end"]);
    assert_eq!((n, e.map(|e| e.to_string())), (5, None));
    assert_eq!(d.read("a.2"), "one\ntwo\n");
    assert_eq!(d.read("a.1"), "six\nten\n");
    assert_eq!(d.read("a"), "end\n");
}

/// On a real full disk, each line is in the file whole or not at all, and the count of lines
/// written says which.
#[test]
fn on_a_full_disk_a_line_is_whole_or_absent() {
    if !lanner_tests::is_root() {
        lanner_tests::skip(
            "on_a_full_disk_a_line_is_whole_or_absent",
            "needs root (mounts a tmpfs)",
        );
        return;
    }
    let disk = lanner_tests::Tmpfs::mount("filesink-full", 16 << 10);
    let filler = disk.path().join("filler");
    fs::write(&filler, [0u8; 4096]).unwrap();
    let p = disk.path().join("alerts.json");
    let mut s = FileSink::open(p.clone(), 0, 0).unwrap();
    // Lines of 1,000 bytes: 12 fit in the 12 KiB left.
    let lines: Vec<String> = (0..40)
        .map(|i| format!("{i:03}{}", "x".repeat(996)))
        .collect();
    let mut written = 0;
    let mut failures = 0;
    for batch in lines.chunks(3) {
        let (n, e) = s.write_lines(batch);
        written += n;
        if let Some(e) = e {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
            assert!(e.to_string().contains("alerts.json"), "{e}");
            failures += 1;
        }
    }
    assert!(failures > 0, "the disk never filled");
    let whole = |n: usize| {
        let text = fs::read_to_string(&p).unwrap();
        assert!(text.ends_with('\n'), "a torn last line");
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), n);
        assert!(got.iter().all(|l| l.len() == 999), "a torn line");
    };
    whole(written);
    // Room again: the same sink goes on, whole lines after whole lines.
    fs::remove_file(&filler).unwrap();
    assert_eq!(s.write_lines(&lines[..2]).0, 2);
    whole(written + 2);
}
