//! Which lines apply to a host, in two passes as ssh.c and readconf.c do
//! (see the module documentation of [`super`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::read::Item;
use super::tokens::{connection_hash, local_host_names, percent_dollar_expand, percent_expand};
use super::values;
use super::words::{SplitLine, match_pattern_list};
use super::{
    IdentityAgent, Origin, SshConfig, SshConfigError, SshHostConfig, StrictHostKeyChecking,
};
use crate::select::local_user::{LocalUser, expand_tilde};
use crate::wildcard::match_pattern;

/// Keywords OpenSSH 9.2 knows (readconf.c `keywords[]`); the ones not
/// acted on here are accepted and ignored.
const KNOWN: &[&str] = &[
    "protocol",
    "cipher",
    "fallbacktorsh",
    "globalknownhostsfile2",
    "rhostsauthentication",
    "userknownhostsfile2",
    "useroaming",
    "usersh",
    "useprivilegedport",
    "afstokenpassing",
    "kerberosauthentication",
    "kerberostgtpassing",
    "rsaauthentication",
    "rhostsrsaauthentication",
    "compressionlevel",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "smartcarddevice",
    "pkcs11provider",
    "forwardagent",
    "exitonforwardfailure",
    "xauthlocation",
    "gatewayports",
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "kbdinteractivedevices",
    "challengeresponseauthentication",
    "skeyauthentication",
    "tisauthentication",
    "pubkeyauthentication",
    "dsaauthentication",
    "hostbasedauthentication",
    "identityfile2",
    "addkeystoagent",
    "ciphers",
    "macs",
    "remoteforward",
    "localforward",
    "permitremoteopen",
    "escapechar",
    "connectionattempts",
    "batchmode",
    "checkhostip",
    "compression",
    "tcpkeepalive",
    "keepalive",
    "numberofpasswordprompts",
    "syslogfacility",
    "loglevel",
    "logverbose",
    "dynamicforward",
    "preferredauthentications",
    "hostkeyalgorithms",
    "casignaturealgorithms",
    "bindaddress",
    "bindinterface",
    "clearallforwardings",
    "enablesshkeysign",
    "verifyhostkeydns",
    "nohostauthenticationforlocalhost",
    "rekeylimit",
    "addressfamily",
    "serveraliveinterval",
    "serveralivecountmax",
    "sendenv",
    "setenv",
    "controlpath",
    "controlmaster",
    "controlpersist",
    "hashknownhosts",
    "tunnel",
    "tunneldevice",
    "localcommand",
    "permitlocalcommand",
    "remotecommand",
    "visualhostkey",
    "kexalgorithms",
    "ipqos",
    "requesttty",
    "sessiontype",
    "stdinnull",
    "forkafterauthentication",
    "proxyusefdpass",
    "canonicaldomains",
    "canonicalizefallbacklocal",
    "canonicalizehostname",
    "canonicalizemaxdots",
    "canonicalizepermittedcnames",
    "streamlocalbindmask",
    "streamlocalbindunlink",
    "revokedhostkeys",
    "fingerprinthash",
    "updatehostkeys",
    "hostbasedacceptedalgorithms",
    "hostbasedkeytypes",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "securitykeyprovider",
    "knownhostscommand",
    "requiredrsasize",
    "enableescapecommandline",
];

/// Match criteria of later OpenSSH versions: warned about, never matching.
const LATER_CRITERIA: &[&str] = &[
    "tagged",
    "localnetwork",
    "version",
    "sessiontype",
    "command",
];

type Set<T> = Option<(T, Origin)>;

#[derive(Default)]
struct Opts {
    hostname: Set<String>,
    port: Set<u16>,
    user: Set<String>,
    identity_files: Vec<(String, Origin)>,
    certificate_files: Vec<(String, Origin)>,
    identities_only: Set<bool>,
    identity_agent: Set<String>,
    proxy_jump: Set<String>,
    proxy_command: Set<String>,
    connect_timeout: Set<u64>,
    strict: Set<StrictHostKeyChecking>,
    user_files: Set<Vec<String>>,
    global_files: Set<Vec<String>>,
    host_key_alias: Set<String>,
    ignore_unknown: Option<String>,
    canonicalize: Set<bool>,
}

struct Pass<'a> {
    config: &'a SshConfig,
    user: &'a LocalUser,
    host: String,
    original: String,
    final_pass: bool,
    want_final: bool,
    o: Opts,
    warnings: Vec<String>,
}

fn err(origin: &Origin, message: String) -> SshConfigError {
    SshConfigError::new(Some(origin.clone()), message)
}

fn set<T>(slot: &mut Set<T>, active: bool, value: T, origin: &Origin) {
    if active && slot.is_none() {
        *slot = Some((value, origin.clone()));
    }
}

/// Resolves `host` as `ssh -G` does.
pub fn resolve(
    config: &SshConfig,
    host: &str,
    typed_user: Option<&str>,
    typed_port: Option<u16>,
) -> Result<SshHostConfig, SshConfigError> {
    let fallback = LocalUser {
        name: crate::select::local_user::local_user().unwrap_or_else(|| "root".into()),
        uid: 0,
        home: PathBuf::from("/"),
    };
    let user = config.user.as_ref().unwrap_or(&fallback);
    let mut pass = Pass {
        config,
        user,
        host: host.to_owned(),
        original: host.to_owned(),
        final_pass: false,
        want_final: false,
        o: Opts::default(),
        warnings: Vec::new(),
    };
    let typed = Origin {
        file: std::sync::Arc::from(std::path::Path::new("(typed)")),
        line: 0,
    };
    if let Some(u) = typed_user {
        pass.o.user = Some((u.to_owned(), typed.clone()));
    }
    if let Some(p) = typed_port {
        pass.o.port = Some((p, typed));
    }
    pass.run()?;
    let mut host2 = match &pass.o.hostname {
        Some((h, origin)) => {
            percent_expand(h, &[('h', host)]).map_err(|m| err(origin, format!("HostName: {m}")))?
        }
        None => host.to_owned(),
    };
    if host2.parse::<std::net::IpAddr>().is_err() {
        host2 = host2.to_ascii_lowercase();
    }
    if let Some((h, _)) = &mut pass.o.hostname {
        *h = host2.clone();
    }
    // CanonicalizeHostname yes/always asks for the final pass too (ssh.c);
    // the name is not looked up in the DNS here, so it stays `host2`.
    if pass.o.canonicalize.as_ref().is_some_and(|(c, _)| *c) {
        pass.want_final = true;
    }
    if pass.want_final {
        // ssh sets options.hostname to the host before the final pass.
        pass.host = host2.clone();
        pass.final_pass = true;
        let hostname_before = pass.o.hostname.take();
        pass.o.hostname = Some((
            host2.clone(),
            hostname_before
                .as_ref()
                .map(|(_, o)| o.clone())
                .unwrap_or_else(|| Origin {
                    file: std::sync::Arc::from(std::path::Path::new("(host)")),
                    line: 0,
                }),
        ));
        pass.run()?;
        if hostname_before.is_none() {
            pass.o.hostname = None;
        } else {
            pass.o.hostname = hostname_before;
        }
    }
    pass.finish(host, &host2)
}

impl Pass<'_> {
    fn run(&mut self) -> Result<(), SshConfigError> {
        let config = self.config;
        for file in &config.files {
            let mut active = true;
            self.items(file, &mut active, false)?;
        }
        Ok(())
    }

    fn items(
        &mut self,
        items: &[Item],
        active: &mut bool,
        nevermatch: bool,
    ) -> Result<(), SshConfigError> {
        for item in items {
            match item {
                Item::Include(_, files) => {
                    let outer = *active;
                    for f in files {
                        self.items(f, active, nevermatch || !outer)?;
                        *active = outer;
                    }
                }
                Item::Line(origin, line) => self.line(origin, line, active, nevermatch)?,
            }
        }
        Ok(())
    }

    /// The host `Match host` compares with.
    fn match_host(&self) -> Result<String, SshConfigError> {
        match &self.o.hostname {
            Some((h, _)) if self.final_pass => Ok(h.clone()),
            Some((h, origin)) => percent_expand(h, &[('h', &self.host)])
                .map_err(|m| err(origin, format!("HostName: {m}"))),
            None => Ok(self.host.clone()),
        }
    }

    fn line(
        &mut self,
        origin: &Origin,
        line: &SplitLine,
        active: &mut bool,
        nevermatch: bool,
    ) -> Result<(), SshConfigError> {
        let words = &line.words;
        let kw = line.keyword.as_str();
        let one = |what: &str| -> Result<String, SshConfigError> {
            match words.as_slice() {
                [] => Err(err(origin, format!("{what}: missing argument"))),
                [a] if a.is_empty() => Err(err(origin, format!("{what}: missing argument"))),
                [a] => Ok(a.clone()),
                _ => Err(err(
                    origin,
                    format!("keyword {kw} extra arguments at end of line"),
                )),
            }
        };
        let on = *active;
        match kw {
            "host" => {
                let mut matched = false;
                for arg in words {
                    if arg.is_empty() {
                        return Err(err(origin, "keyword host empty argument".into()));
                    }
                    if nevermatch {
                        break;
                    }
                    let (negated, pat) = match arg.strip_prefix('!') {
                        Some(p) => (true, p),
                        None => (false, arg.as_str()),
                    };
                    if match_pattern(self.host.as_bytes(), pat.as_bytes()) {
                        if negated {
                            matched = false;
                            break;
                        }
                        matched = true;
                    }
                }
                *active = matched && !nevermatch;
            }
            "match" => {
                let m = self.match_line(origin, words)?;
                *active = m && !nevermatch;
            }
            "ignoreunknown" => {
                let v = one("IgnoreUnknown")?;
                if on && self.o.ignore_unknown.is_none() {
                    self.o.ignore_unknown = Some(v);
                }
            }
            "hostname" => set(&mut self.o.hostname, on, one("HostName")?, origin),
            "user" => set(&mut self.o.user, on, one("User")?, origin),
            "hostkeyalias" => set(&mut self.o.host_key_alias, on, one("HostKeyAlias")?, origin),
            "identityagent" => set(
                &mut self.o.identity_agent,
                on,
                one("IdentityAgent")?,
                origin,
            ),
            "port" => {
                let v = one("Port")?;
                let p = v.parse::<u16>().ok().filter(|p| *p > 0);
                let Some(p) = p else {
                    return Err(err(origin, format!("Bad port '{v}'")));
                };
                set(&mut self.o.port, on, p, origin);
            }
            "identityfile" | "certificatefile" => {
                let v = one(kw)?;
                let list = if kw == "identityfile" {
                    &mut self.o.identity_files
                } else {
                    &mut self.o.certificate_files
                };
                if on && !list.iter().any(|(f, _)| *f == v) {
                    list.push((v, origin.clone()));
                }
            }
            "identitiesonly" => {
                let v = one("IdentitiesOnly")?;
                let b = match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => return Err(err(origin, format!("unsupported option \"{v}\""))),
                };
                set(&mut self.o.identities_only, on, b, origin);
            }
            "stricthostkeychecking" => {
                let v = one("StrictHostKeyChecking")?;
                let Some(s) = StrictHostKeyChecking::try_parse(&v) else {
                    return Err(err(origin, format!("unsupported option \"{v}\"")));
                };
                set(&mut self.o.strict, on, s, origin);
            }
            "connecttimeout" => {
                let v = one("ConnectTimeout")?;
                if v != "none" {
                    let Some(secs) = convtime(&v) else {
                        return Err(err(origin, "invalid time value".into()));
                    };
                    set(&mut self.o.connect_timeout, on, secs, origin);
                }
            }
            "userknownhostsfile" | "globalknownhostsfile" => {
                if words.is_empty() || words.iter().any(String::is_empty) {
                    return Err(err(origin, format!("keyword {kw} empty argument")));
                }
                let slot = if kw == "userknownhostsfile" {
                    &mut self.o.user_files
                } else {
                    &mut self.o.global_files
                };
                set(slot, on, words.clone(), origin);
            }
            "proxyjump" => {
                let raw = line
                    .rest
                    .split('#')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_owned();
                if raw.is_empty()
                    || (!raw.eq_ignore_ascii_case("none")
                        && raw
                            .split(',')
                            .any(|h| h.trim().is_empty() || h.contains(char::is_whitespace)))
                {
                    return Err(err(origin, format!("Invalid ProxyJump \"{raw}\"")));
                }
                if self.o.proxy_command.is_none() {
                    set(&mut self.o.proxy_jump, on, raw, origin);
                }
            }
            "proxycommand" => {
                // Empirically (ssh -G 9.2): `ProxyJump none` does not
                // block a later ProxyCommand; a real jump host does.
                let jump_blocks = self
                    .o
                    .proxy_jump
                    .as_ref()
                    .is_some_and(|(j, _)| !j.eq_ignore_ascii_case("none"));
                if !jump_blocks {
                    set(&mut self.o.proxy_command, on, line.rest.clone(), origin);
                }
            }
            "canonicalizehostname" => {
                let v = one("CanonicalizeHostname")?;
                let on_off = match v.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "always" => true,
                    "no" | "false" | "none" => false,
                    _ => return Err(err(origin, format!("unsupported option \"{v}\""))),
                };
                set(&mut self.o.canonicalize, on, on_off, origin);
            }
            k if KNOWN.contains(&k) => {
                values::check(k, words).map_err(|m| err(origin, m))?;
            }
            k => {
                let ignored = self
                    .o
                    .ignore_unknown
                    .as_deref()
                    .is_some_and(|list| match_pattern_list(k, list, true));
                if !ignored {
                    return Err(err(origin, format!("Bad configuration option: {k}")));
                }
            }
        }
        Ok(())
    }

    /// readconf.c `match_cfg_line`.
    fn match_line(&mut self, origin: &Origin, words: &[String]) -> Result<bool, SshConfigError> {
        let host = self.match_host()?;
        let ruser = self
            .o
            .user
            .as_ref()
            .map(|(u, _)| u.clone())
            .unwrap_or_else(|| self.user.name.clone());
        let mut result = true;
        let mut attributes = 0;
        let mut i = 0;
        while i < words.len() {
            let oattrib = words[i].as_str();
            i += 1;
            let (negate, attrib) = match oattrib.strip_prefix('!') {
                Some(a) => (true, a),
                None => (false, oattrib),
            };
            let attrib = attrib.to_ascii_lowercase();
            if attrib == "all" {
                if attributes > 1 || i < words.len() {
                    return Err(err(
                        origin,
                        format!("'{oattrib}' cannot be combined with other Match attributes"),
                    ));
                }
                if result {
                    result = !negate;
                }
                return Ok(result);
            }
            attributes += 1;
            if attrib == "canonical" || attrib == "final" {
                if attrib == "final" {
                    self.want_final = true;
                }
                if self.final_pass == negate {
                    result = false;
                }
                continue;
            }
            let Some(arg) = words.get(i).filter(|a| !a.is_empty()) else {
                return Err(err(origin, format!("Missing Match criteria for {attrib}")));
            };
            i += 1;
            let r = match attrib.as_str() {
                "host" => match_pattern_list(&host, arg, true),
                "originalhost" => match_pattern_list(&self.original, arg, true),
                "user" => match_pattern_list(&ruser, arg, false),
                "localuser" => match_pattern_list(&self.user.name, arg, false),
                "exec" => {
                    let cmd = self.exec_command(origin, arg, &host, &ruser)?;
                    if !result {
                        continue;
                    }
                    self.exec(origin, &cmd)?
                }
                a if LATER_CRITERIA.contains(&a) => {
                    let w = format!(
                        "{origin}: Match criterion `{a}` is not supported by OpenSSH 9.2 or ssh-fanout; the block does not match"
                    );
                    tracing::warn!("{w}");
                    self.warnings.push(w);
                    result = false;
                    continue;
                }
                a => return Err(err(origin, format!("Unsupported Match attribute {a}"))),
            };
            if r == negate {
                result = false;
            }
        }
        if attributes == 0 {
            return Err(err(
                origin,
                "One or more attributes required for Match".into(),
            ));
        }
        Ok(result)
    }

    fn exec_command(
        &self,
        origin: &Origin,
        arg: &str,
        host: &str,
        ruser: &str,
    ) -> Result<String, SshConfigError> {
        let (long, short) = local_host_names();
        let port = self
            .o
            .port
            .as_ref()
            .map(|(p, _)| *p)
            .unwrap_or(22)
            .to_string();
        let hash = connection_hash(&long, host, &port, ruser);
        let alias = self
            .o
            .host_key_alias
            .as_ref()
            .map(|(a, _)| a.clone())
            .unwrap_or_else(|| host.to_owned());
        let home = self.user.home.display().to_string();
        let uid = self.user.uid.to_string();
        percent_expand(
            arg,
            &[
                ('C', &hash),
                ('L', &short),
                ('d', &home),
                ('h', host),
                ('k', &alias),
                ('l', &long),
                ('n', &self.original),
                ('p', &port),
                ('r', ruser),
                ('u', &self.user.name),
                ('i', &uid),
            ],
        )
        .map_err(|m| err(origin, format!("Match exec: {m}")))
    }

    /// readconf.c `execute_in_shell`, cached per expanded command.
    fn exec(&self, origin: &Origin, cmd: &str) -> Result<bool, SshConfigError> {
        if let Ok(cache) = self.config.exec_cache.lock()
            && let Some(r) = cache.get(cmd)
        {
            return Ok(*r);
        }
        let shell = crate::select::local_user::user_shell();
        let status = std::process::Command::new(&shell)
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| err(origin, format!("match exec '{cmd}' error: {shell}: {e}")))?;
        if status.code().is_none() {
            return Err(err(
                origin,
                format!("match exec '{cmd}' error: killed by a signal"),
            ));
        }
        let r = status.success();
        if let Ok(mut cache) = self.config.exec_cache.lock() {
            cache.insert(cmd.to_owned(), r);
        }
        Ok(r)
    }

    fn finish(self, original: &str, host2: &str) -> Result<SshHostConfig, SshConfigError> {
        let o = self.o;
        let user = self.user;
        let mut origins = BTreeMap::new();
        let mut note = |k: &str, origin: Option<&Origin>| {
            if let Some(origin) = origin {
                origins.insert(k.to_owned(), origin.clone());
            }
        };
        note("hostname", o.hostname.as_ref().map(|x| &x.1));
        note("port", o.port.as_ref().map(|x| &x.1));
        note("user", o.user.as_ref().map(|x| &x.1));
        note("identityfile", o.identity_files.first().map(|x| &x.1));
        note("certificatefile", o.certificate_files.first().map(|x| &x.1));
        note("identitiesonly", o.identities_only.as_ref().map(|x| &x.1));
        note("identityagent", o.identity_agent.as_ref().map(|x| &x.1));
        note("proxyjump", o.proxy_jump.as_ref().map(|x| &x.1));
        note("proxycommand", o.proxy_command.as_ref().map(|x| &x.1));
        note("connecttimeout", o.connect_timeout.as_ref().map(|x| &x.1));
        note("stricthostkeychecking", o.strict.as_ref().map(|x| &x.1));
        note("userknownhostsfile", o.user_files.as_ref().map(|x| &x.1));
        note(
            "globalknownhostsfile",
            o.global_files.as_ref().map(|x| &x.1),
        );
        note("hostkeyalias", o.host_key_alias.as_ref().map(|x| &x.1));
        let port = o.port.as_ref().map(|x| x.0);
        let port_s = port.unwrap_or(22).to_string();
        let ruser = o
            .user
            .as_ref()
            .map(|x| x.0.clone())
            .unwrap_or_else(|| user.name.clone());
        let (long, short) = local_host_names();
        let hash = connection_hash(&long, host2, &port_s, &ruser);
        let alias = o
            .host_key_alias
            .as_ref()
            .map(|x| x.0.clone())
            .unwrap_or_else(|| host2.to_owned());
        let home = user.home.display().to_string();
        let uid = user.uid.to_string();
        let jump = o
            .proxy_jump
            .as_ref()
            .map(|x| x.0.clone())
            .filter(|j| !j.eq_ignore_ascii_case("none"));
        let jump_s = jump.clone().unwrap_or_default();
        let table: Vec<(char, &str)> = vec![
            ('C', &hash),
            ('L', &short),
            ('i', &uid),
            ('k', &alias),
            ('l', &long),
            ('n', original),
            ('p', &port_s),
            ('d', &home),
            ('h', host2),
            ('r', &ruser),
            ('u', &user.name),
            ('j', &jump_s),
        ];
        let path = |(f, origin): &(String, Origin)| -> Result<PathBuf, SshConfigError> {
            let t = expand_tilde(f, Some(&user.home)).display().to_string();
            percent_dollar_expand(&t, &table)
                .map(PathBuf::from)
                .map_err(|m| err(origin, m))
        };
        let identity_files = o
            .identity_files
            .iter()
            .map(&path)
            .collect::<Result<Vec<_>, _>>()?;
        let certificate_files = o
            .certificate_files
            .iter()
            .map(&path)
            .collect::<Result<Vec<_>, _>>()?;
        let agent = match &o.identity_agent {
            None => None,
            Some((a, _)) if a.eq_ignore_ascii_case("none") => Some(IdentityAgent::None),
            Some((a, _)) if a == "SSH_AUTH_SOCK" => Some(IdentityAgent::Env(a.clone())),
            Some((a, _)) if a.starts_with('$') && !a.starts_with("${") => {
                Some(IdentityAgent::Env(a[1..].to_owned()))
            }
            Some(x) => Some(IdentityAgent::Socket(path(x)?)),
        };
        let user_known_hosts_files = match &o.user_files {
            Some((files, _)) if files[0].eq_ignore_ascii_case("none") => Some(Vec::new()),
            Some((files, origin)) => Some(
                files
                    .iter()
                    .map(|f| path(&(f.clone(), origin.clone())))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let global_known_hosts_files = match &o.global_files {
            Some((files, _)) if files[0].eq_ignore_ascii_case("none") => Some(Vec::new()),
            Some((files, _)) => Some(
                files
                    .iter()
                    .map(|f| expand_tilde(f, Some(&user.home)))
                    .collect(),
            ),
            None => None,
        };
        let proxy_command = match &o.proxy_command {
            Some((c, _)) if c.eq_ignore_ascii_case("none") => None,
            Some((c, origin)) => Some(
                percent_expand(
                    c,
                    &[('h', host2), ('n', original), ('p', &port_s), ('r', &ruser)],
                )
                .map_err(|m| err(origin, format!("ProxyCommand: {m}")))?,
            ),
            None => None,
        };
        Ok(SshHostConfig {
            hostname: o.hostname.map(|x| x.0),
            port,
            user: o.user.map(|x| x.0),
            identity_files,
            identity_file_patterns: o.identity_files.into_iter().map(|x| x.0).collect(),
            identities_only: o.identities_only.map(|x| x.0),
            certificate_files,
            identity_agent: o.identity_agent.map(|x| x.0),
            agent,
            proxy_jump: jump,
            proxy_command,
            proxy_command_template: o
                .proxy_command
                .map(|x| x.0)
                .filter(|c| !c.eq_ignore_ascii_case("none")),
            connect_timeout: o.connect_timeout.map(|x| Duration::from_secs(x.0)),
            strict_host_key_checking: o.strict.map(|x| x.0),
            user_known_hosts_files,
            global_known_hosts_files,
            host_key_alias: o.host_key_alias.map(|x| x.0),
            origins,
            warnings: self.warnings,
        })
    }
}

/// OpenSSH's `convtime`: `90`, `1m30s`, `1h`, units s m h d w.
pub fn convtime(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        // strtol: a number may carry a leading `+`.
        if c == '+' && num.is_empty() && chars.peek().is_some_and(char::is_ascii_digit) {
            continue;
        }
        if c.is_ascii_digit() {
            num.push(c);
            if chars.peek().is_none() {
                total = total.checked_add(num.parse::<u64>().ok()?)?;
                num.clear();
            }
            continue;
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(mult)?)?;
    }
    if total > i32::MAX as u64 {
        return None;
    }
    Some(total)
}
