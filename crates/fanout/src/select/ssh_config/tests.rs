use super::*;

fn cfg(text: &str) -> SshConfig {
    SshConfig::parse_with_home(text, Some(PathBuf::from("/home/me")))
}

#[test]
fn first_value_wins_and_identity_files_accumulate() {
    let c = cfg("Host web1\n  Port 2201\n  IdentityFile ~/.ssh/web\n\
             Host web*\n  Port 2299\n  User deploy\n  IdentityFile /keys/%h\n\
             Host *\n  User nobody\n  Port 22\n");
    let h = c.lookup("web1");
    assert_eq!(h.port, Some(2201));
    assert_eq!(h.user.as_deref(), Some("deploy"));
    assert_eq!(
        h.identity_files,
        [
            PathBuf::from("/home/me/.ssh/web"),
            PathBuf::from("/keys/web1")
        ]
    );
    let other = c.lookup("db");
    assert_eq!(other.port, Some(22));
    assert_eq!(other.user.as_deref(), Some("nobody"));
    assert!(other.identity_files.is_empty());
}

#[test]
fn hostname_percent_h_and_case_insensitive_keywords() {
    let c = cfg("HOST *.lab\n  hostname=%h.example.test\nhost bastion\n  HostName 127.0.0.9\n");
    assert_eq!(
        c.lookup("a.lab").hostname.as_deref(),
        Some("a.lab.example.test")
    );
    assert_eq!(c.lookup("bastion").hostname.as_deref(), Some("127.0.0.9"));
    // `Host` matches the name as typed, case-sensitively, as ssh does.
    assert_eq!(c.lookup("BASTION").hostname, None);
    assert_eq!(c.lookup("other").hostname, None);
}

#[test]
fn negation_and_question_mark() {
    let c = cfg("Host h? !h3\n  User u\n");
    assert_eq!(c.lookup("h1").user.as_deref(), Some("u"));
    assert_eq!(c.lookup("h3").user, None);
    assert_eq!(c.lookup("h10").user, None);
    // A block with only negations matches nothing.
    let c = cfg("Host !x\n  User u\n");
    assert_eq!(c.lookup("y").user, None);
}

#[test]
fn options_before_first_host_apply_to_all() {
    let c = cfg("User top\nHost a\n  User a-user\n");
    assert_eq!(c.lookup("a").user.as_deref(), Some("top"));
}

#[test]
fn proxy_jump_and_none() {
    let c = cfg(
        "Host inner\n  ProxyJump bastion:2222\nHost direct\n  ProxyJump none\nHost *\n  ProxyJump fallback\n",
    );
    assert_eq!(
        c.lookup("inner").proxy_jump.as_deref(),
        Some("bastion:2222")
    );
    assert_eq!(c.lookup("direct").proxy_jump, None);
    assert_eq!(c.lookup("x").proxy_jump.as_deref(), Some("fallback"));
}

#[test]
fn bad_port_is_refused_with_file_and_line() {
    let e = SshConfig::try_parse_with_home("Host a\n  Port nope\n", None)
        .and_then(|c| c.try_lookup("a"));
    let e = e.unwrap_err().to_string();
    assert!(e.contains("(config):2") && e.contains("Bad port"), "{e}");
    let e = SshConfig::try_parse_with_home("Bogus x\n", None).and_then(|c| c.try_lookup("a"));
    assert!(
        e.unwrap_err()
            .to_string()
            .contains("Bad configuration option: bogus")
    );
    let ok = cfg("IgnoreUnknown bog*\nBogus x\nHost a\n  User u # c\n");
    assert_eq!(ok.lookup("a").user.as_deref(), Some("u"));
}

#[test]
fn match_blocks_and_final_pass() {
    let c = cfg(
        "Match host a originalhost a !user x\n  User first\nHost b\n  HostName real.invalid\nMatch final host real.invalid\n  Port 2022\nMatch !final\n  User early\n",
    );
    assert_eq!(c.lookup("a").user.as_deref(), Some("first"));
    let b = c.lookup("b");
    assert_eq!(b.port, Some(2022));
    assert_eq!(b.user.as_deref(), Some("early"));
    let c = cfg("Match exec \"test %h = yes\"\n  User ran\n");
    assert_eq!(c.lookup("yes").user.as_deref(), Some("ran"));
    assert_eq!(c.lookup("no").user, None);
    let c = cfg("Match tagged x\n  User t\n");
    let r = c.lookup("a");
    assert_eq!(r.user, None);
    assert!(r.warnings[0].contains("(config):1"), "{:?}", r.warnings);
}

#[test]
fn host_comment_is_not_a_pattern() {
    let c = cfg("Host bastion # the jump box\n  User j\nHost the\n  User t\n");
    assert_eq!(c.lookup("bastion").user.as_deref(), Some("j"));
    assert_eq!(c.lookup("box").user, None);
}

#[test]
fn quoted_values_and_comments() {
    let c = cfg("# comment\nHost \"q\"\n  IdentityFile \"/path with space/key\"\n");
    assert_eq!(
        c.lookup("q").identity_files,
        [PathBuf::from("/path with space/key")]
    );
}

#[test]
fn host_key_options() {
    let c = cfg(
        "Host a\n  StrictHostKeyChecking Accept-New\n  HostKeyAlias Web.Lab\n\
             UserKnownHostsFile ~/kh1 /kh/%h_%r\n  GlobalKnownHostsFile none\n  User bob\n\
             Host *\n  StrictHostKeyChecking yes\n  UserKnownHostsFile /never\n\
             GlobalKnownHostsFile ~/g1 /g2\n",
    );
    let a = c.lookup("a");
    assert_eq!(
        a.strict_host_key_checking,
        Some(StrictHostKeyChecking::AcceptNew)
    );
    assert_eq!(a.host_key_alias.as_deref(), Some("Web.Lab"));
    assert_eq!(
        a.user_known_hosts_files,
        Some(vec![
            PathBuf::from("/home/me/kh1"),
            PathBuf::from("/kh/a_bob")
        ])
    );
    assert_eq!(a.global_known_hosts_files, Some(vec![]));
    let b = c.lookup("b");
    assert_eq!(b.strict_host_key_checking, Some(StrictHostKeyChecking::Yes));
    assert_eq!(
        b.global_known_hosts_files,
        Some(vec![PathBuf::from("/home/me/g1"), PathBuf::from("/g2")])
    );
    assert_eq!(b.host_key_alias, None);
    assert_eq!(cfg("").lookup("x").user_known_hosts_files, None);
    assert_eq!(
        StrictHostKeyChecking::parse("off"),
        StrictHostKeyChecking::No
    );
    assert_eq!(
        StrictHostKeyChecking::parse("FALSE"),
        StrictHostKeyChecking::No
    );
    assert_eq!(
        StrictHostKeyChecking::parse("ask"),
        StrictHostKeyChecking::Ask
    );
    assert_eq!(StrictHostKeyChecking::try_parse("bogus"), None);
}

#[test]
fn tilde() {
    let home = Path::new("/h");
    assert_eq!(expand_tilde("~", Some(home)), PathBuf::from("/h"));
    assert_eq!(expand_tilde("~/k", Some(home)), PathBuf::from("/h/k"));
    assert_eq!(
        expand_tilde("~other/k", Some(home)),
        PathBuf::from("~other/k")
    );
    assert_eq!(expand_tilde("~/k", None), PathBuf::from("~/k"));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn include_applies_only_inside_a_matching_block_and_nests() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    write(
        dir,
        "a.conf",
        &format!("Port 2001\nInclude {}/b.conf\n", dir.display()),
    );
    write(dir, "b.conf", "User from-b\nHost other\n  HostName never\n");
    let main = write(
        dir,
        "config",
        &format!(
            "Host web\n  Include {0}/a*.conf\n  HostName web.invalid\nHost *\n  Port 9\n  User last\n",
            dir.display()
        ),
    );
    let c = SshConfig::load(&main).unwrap();
    let web = c.try_lookup("web").unwrap();
    assert_eq!(web.port, Some(2001));
    assert_eq!(web.user.as_deref(), Some("from-b"));
    // The `Host other` inside b.conf does not end the including block.
    assert_eq!(web.hostname.as_deref(), Some("web.invalid"));
    let db = c.try_lookup("db").unwrap();
    assert_eq!(db.port, Some(9));
    assert_eq!(db.user.as_deref(), Some("last"));
}

#[test]
fn include_depth_is_limited_and_errors_name_the_line() {
    let d = tempfile::tempdir().unwrap();
    let main = write(
        d.path(),
        "loop",
        &format!("Include {}/loop\n", d.path().display()),
    );
    let e = SshConfig::load(&main).unwrap_err().to_string();
    assert!(e.contains("too many recursive"), "{e}");
    let bad = write(d.path(), "bad", "Host a\n  User \"x\n");
    let e = SshConfig::load(&bad).unwrap_err().to_string();
    assert!(e.contains("bad:2") && e.contains("invalid quotes"), "{e}");
    assert!(SshConfig::load(&d.path().join("missing")).is_err());
}

#[test]
fn dash_f_reads_no_system_file_and_none_reads_nothing() {
    let d = tempfile::tempdir().unwrap();
    let user = write(d.path(), "user", "Host a\n  Port 1\n");
    let system = write(d.path(), "system", "Host *\n  User sys\n  Port 2\n");
    let both = SshConfig::load_default_files(std::slice::from_ref(&user), &system).unwrap();
    let a = both.try_lookup("a").unwrap();
    assert_eq!((a.port, a.user.as_deref()), (Some(1), Some("sys")));
    let only = SshConfig::for_flag(Some(&user))
        .unwrap()
        .try_lookup("a")
        .unwrap();
    assert_eq!((only.port, only.user), (Some(1), None));
    let none = SshConfig::for_flag(Some(Path::new("none"))).unwrap();
    assert_eq!(none.try_lookup("a").unwrap(), SshHostConfig::default());
}

#[test]
fn match_exec_runs_once_per_distinct_command() {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log");
    let c = cfg(&format!(
        "Match exec \"echo %h >> {0}\"\n  Port 1\nMatch exec \"echo %h >> {0}\"\n  User u\n",
        log.display()
    ));
    assert_eq!(c.lookup("a").port, Some(1));
    assert_eq!(c.lookup("a").user.as_deref(), Some("u"));
    assert_eq!(c.lookup("b").port, Some(1));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "a\nb\n");
}

#[test]
fn proxy_command_and_jump_first_wins() {
    let c = cfg(
        "Host a\n  ProxyCommand ssh -W %h:%p j\n  ProxyJump j2\nHost b\n  ProxyCommand none\n  ProxyJump j2\nHost c\n  ProxyJump j3\n  ProxyCommand nc %h %p\n",
    );
    let a = c.lookup("a");
    assert_eq!(a.proxy_command.as_deref(), Some("ssh -W a:22 j"));
    assert_eq!(a.proxy_jump, None);
    let b = c.lookup("b");
    assert_eq!((b.proxy_command, b.proxy_jump), (None, None));
    let cc = c.lookup("c");
    assert_eq!(
        (cc.proxy_command, cc.proxy_jump.as_deref()),
        (None, Some("j3"))
    );
}

#[test]
fn typed_user_and_port_are_seen_by_match_and_tokens() {
    let c = cfg(
        "Match user alice\n  HostName a.invalid\nHost *\n  IdentityFile /k/%r\n  User bob\n  Port 1\n",
    );
    let typed = c.try_lookup_for("h", Some("alice"), Some(2200)).unwrap();
    assert_eq!(typed.hostname.as_deref(), Some("a.invalid"));
    assert_eq!(typed.user.as_deref(), Some("alice"));
    assert_eq!(typed.port, Some(2200));
    assert_eq!(typed.identity_files, [PathBuf::from("/k/alice")]);
    let plain = c.try_lookup("h").unwrap();
    assert_eq!(plain.hostname, None);
    assert_eq!(plain.identity_files, [PathBuf::from("/k/bob")]);
}

#[test]
fn canonicalize_hostname_asks_for_the_final_pass_without_dns() {
    let c = cfg(
        "CanonicalizeHostname yes\nHost a\n  HostName b.invalid\nMatch canonical host b.invalid\n  User canon\nHost b.invalid\n  Port 7\n",
    );
    let a = c.lookup("a");
    assert_eq!(a.user.as_deref(), Some("canon"));
    assert_eq!(a.port, Some(7));
    assert!(cfg("CanonicalizeHostname maybe\n").try_lookup("a").is_err());
}
