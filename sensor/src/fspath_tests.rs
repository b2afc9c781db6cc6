//! Falco's path semantics on known cases, and cut or unknown parts shown as such.

use super::*;

fn dir(path: &str) -> Base {
    Base::Dir(Dir {
        parts: path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect(),
        gap: None,
    })
}

fn name(raw: &str, base: &Base) -> (String, bool) {
    let p = FilePath::new(Some(raw.into()), false, base);
    (p.name.unwrap(), p.cut)
}

#[test]
fn absolute_paths_are_normalized_as_falco_does() {
    for (raw, want) in [
        ("/etc/shadow", "/etc/shadow"),
        ("/", "/"),
        ("//etc//shadow", "/etc/shadow"),
        ("/etc/./shadow", "/etc/shadow"),
        ("/etc/../etc/shadow", "/etc/shadow"),
        ("/..", "/"),
        ("/../../etc", "/etc"),
        ("/tmp/", "/tmp"),
        ("/tmp/x/..", "/tmp"),
        ("/tmp/.", "/tmp"),
        ("/a/.../b", "/a/.../b"),
        ("/a/.hidden/..x", "/a/.hidden/..x"),
    ] {
        assert_eq!(name(raw, &Base::None), (want.to_string(), false), "{raw}");
    }
}

#[test]
fn relative_paths_join_the_directory_the_kernel_resolved() {
    let cwd = dir("/home/u");
    for (raw, want) in [
        ("notes", "/home/u/notes"),
        ("./notes", "/home/u/notes"),
        ("a//b/", "/home/u/a/b"),
        ("../../etc/shadow", "/etc/shadow"),
        ("../../../../../etc/shadow", "/etc/shadow"),
        ("..", "/home"),
        (".", "/home/u"),
    ] {
        assert_eq!(name(raw, &cwd), (want.to_string(), false), "{raw}");
    }
    assert_eq!(name("x", &dir("/")), ("/x".to_string(), false));
    // An absolute path ignores the directory, as the kernel does.
    assert_eq!(
        name("/etc/passwd", &cwd),
        ("/etc/passwd".to_string(), false)
    );
}

#[test]
fn an_empty_path_stays_empty() {
    let p = FilePath::new(Some(String::new()), false, &Base::None);
    assert_eq!(p.name.as_deref(), Some(""));
    assert!(!p.cut);
    assert_eq!(p.arg().as_deref(), Some(""));
}

#[test]
fn an_unknown_or_cut_directory_is_shown_and_flagged_never_guessed() {
    assert_eq!(name("x/y", &Base::Unknown), (format!("{CUT}//x/y"), true));
    let cut = Base::Dir(Dir {
        parts: vec!["dev".into(), "shm".into(), "d".into(), "e".into()],
        gap: Some(2),
    });
    assert_eq!(name("f", &cut), (format!("/dev/shm//{CUT}//d/e/f"), true));
    assert_eq!(name("../f", &cut), (format!("/dev/shm//{CUT}//d/f"), true));
    // Up past the leaf side: into the unknown part, whose depth is unknown.
    assert_eq!(name("../../../f", &cut), (format!("{CUT}//f"), true));
    // An absolute path does not need it.
    assert_eq!(name("/etc/hosts", &cut), ("/etc/hosts".to_string(), false));
}

#[test]
fn a_raw_path_cut_short_keeps_its_start_marked() {
    let p = FilePath::new(Some("/tmp/aaaa".into()), true, &Base::None);
    assert_eq!(p.name, Some(format!("/tmp/aaaa//{CUT}")));
    assert!(p.cut);
    assert_eq!(
        p.shown_raw().as_deref(),
        Some(&*format!("/tmp/aaaa//{CUT}"))
    );
    assert_eq!(p.nameraw().as_deref(), Some(&*format!("/tmp/aaaa//{CUT}")));
}

#[test]
fn unreadable_paths_have_no_value() {
    let p = FilePath::new(None, false, &Base::None);
    assert_eq!(
        (p.name.as_deref(), p.nameraw(), p.arg()),
        (None, None, None)
    );
}

#[test]
fn nameraw_collapses_repeated_slashes_only() {
    let p = FilePath::new(Some("..//x///../y/".into()), false, &dir("/a/b"));
    assert_eq!(p.nameraw().as_deref(), Some("../x/../y/"));
    assert_eq!(p.name.as_deref(), Some("/a/y"));
    // evt.arg.name: relative ones resolved, absolute ones as passed.
    assert_eq!(p.arg().as_deref(), Some("/a/y"));
    let abs = FilePath::new(Some("/etc//x".into()), false, &Base::None);
    assert_eq!(abs.arg().as_deref(), Some("/etc//x"));
    assert_eq!(abs.name.as_deref(), Some("/etc/x"));
}

#[test]
fn directory_and_filename_are_cut_at_the_last_slash() {
    assert_eq!(directory("/etc/shadow"), "/etc");
    assert_eq!(directory("/shadow"), "/");
    assert_eq!(directory("/"), "/");
    assert_eq!(directory(""), "/");
    assert_eq!(filename("/etc/shadow"), "shadow");
    assert_eq!(filename("/shadow"), "shadow");
    assert_eq!(filename("/"), "/");
    assert_eq!(filename(""), "/");
}
