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

#[test]
fn appends_across_reopen() {
    let d = Dir::new("reopen");
    let p = d.file("alerts.json");
    let mut s = FileSink::open(p.clone(), 0, 3).unwrap();
    s.write_line("{\"n\":1}").unwrap();
    s.write_line("{\"n\":2}").unwrap();
    s.flush().unwrap();
    drop(s);
    let mut s = FileSink::open(p.clone(), 0, 3).unwrap();
    assert_eq!(s.size, 16);
    s.write_line("{\"n\":3}").unwrap();
    drop(s); // BufWriter flushes on drop
    assert_eq!(d.read("alerts.json"), "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
    assert_eq!(d.names(), ["alerts.json"]);
}

#[test]
fn flush_makes_lines_visible() {
    let d = Dir::new("flush");
    let mut s = FileSink::open(d.file("a"), 0, 0).unwrap();
    s.write_line("x").unwrap();
    s.flush().unwrap();
    assert_eq!(d.read("a"), "x\n");
}

#[test]
fn rotates_at_the_limit_keeping_two() {
    let d = Dir::new("rotate");
    let p = d.file("alerts.json");
    // Lines of 4 bytes with the newline; 12 bytes hold exactly 3.
    let mut s = FileSink::open(p.clone(), 12, 2).unwrap();
    for i in 0..3 {
        s.write_line(&format!("a{i}{i}")).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(
        d.names(),
        ["alerts.json"],
        "exactly at the limit is not over it"
    );
    s.write_line("b00").unwrap();
    s.flush().unwrap();
    assert_eq!(d.names(), ["alerts.json", "alerts.json.1"]);
    assert_eq!(d.read("alerts.json.1"), "a00\na11\na22\n");
    assert_eq!(d.read("alerts.json"), "b00\n");
    for i in 1..3 {
        s.write_line(&format!("b{i}{i}")).unwrap();
    }
    for c in ['c', 'd', 'e'] {
        for i in 0..3 {
            s.write_line(&format!("{c}{i}{i}")).unwrap();
        }
        s.flush().unwrap();
        assert_eq!(d.names(), ["alerts.json", "alerts.json.1", "alerts.json.2"]);
    }
    s.flush().unwrap();
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
    s.write_line("abc").unwrap(); // 11 + 4 = 15: fits
    s.write_line("d").unwrap(); // would be 17: rotate
    s.flush().unwrap();
    assert_eq!(d.read("a.1"), "0123456789\nabc\n");
    assert_eq!(d.read("a"), "d\n");
}

#[test]
fn keep_zero_deletes_the_full_file() {
    let d = Dir::new("keep0");
    let mut s = FileSink::open(d.file("a"), 8, 0).unwrap();
    for l in ["one", "two", "six", "ten"] {
        s.write_line(l).unwrap();
    }
    s.flush().unwrap();
    assert_eq!(d.names(), ["a"]);
    assert_eq!(d.read("a"), "six\nten\n");
}

#[test]
fn an_oversized_line_gets_a_fresh_file_of_its_own() {
    let d = Dir::new("oversized");
    let mut s = FileSink::open(d.file("a"), 8, 3).unwrap();
    let big = "x".repeat(20);
    s.write_line("one").unwrap();
    s.write_line(&big).unwrap();
    s.write_line("two").unwrap();
    s.flush().unwrap();
    assert_eq!(d.read("a.2"), "one\n");
    assert_eq!(d.read("a.1"), format!("{big}\n"));
    assert_eq!(d.read("a"), "two\n");
    // Into an empty file it goes without rotating.
    let mut s = FileSink::open(d.file("b"), 8, 3).unwrap();
    s.write_line(&big).unwrap();
    s.flush().unwrap();
    assert_eq!(d.read("b"), format!("{big}\n"));
    assert!(!d.file("b.1").exists());
}

#[test]
fn zero_max_bytes_never_rotates() {
    let d = Dir::new("norotate");
    let mut s = FileSink::open(d.file("a"), 0, 2).unwrap();
    for _ in 0..1000 {
        s.write_line("0123456789").unwrap();
    }
    s.flush().unwrap();
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
    s.write_line("one").unwrap();
    // A non-empty directory where a.1 should go: the rename onto it fails.
    fs::create_dir_all(d.file("a.1").join("x")).unwrap();
    let e = s.write_line("two").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&d.file("a").display().to_string()), "{msg}");
    assert!(msg.contains(&d.file("a.1").display().to_string()), "{msg}");
    fs::remove_dir_all(d.file("a.1")).unwrap();
    s.write_line("two").unwrap();
    s.flush().unwrap();
    assert_eq!(d.read("a.1"), "one\n");
    assert_eq!(d.read("a"), "two\n");
}
