//! A minimal html5ever [`TreeSink`]: a light arena that keeps only what
//! `document.title` depends on — element names and namespaces, parents,
//! ordered children, template contents kept apart from the document, and
//! the text of HTML `title` elements (whitespace collapsed as it arrives,
//! capped). Comments, doctypes, processing instructions, attributes and all
//! other text are dropped.
//!
//! [`parse`] runs html5ever's tree builder (scripting enabled, as browsers
//! parse `<noscript>`) over decoded text and reports the first HTML `title`
//! in tree order and whether more input could still change the answer.

use std::borrow::Cow;
use std::cell::RefCell;

use encoding_rs::Encoding;
use html5ever::interface::{ElemName, ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::tree_builder::TreeBuilderOpts;
use html5ever::{Attribute, LocalName, Namespace, ParseOpts, QualName, local_name, ns};

use super::prescan::meta_declaration;

type Id = usize;

const DOCUMENT: Id = 0;
/// Shared handle for comments and processing instructions: never stored.
const IGNORED: Id = 1;

/// Collapsed, capped text of one `title` element.
#[derive(Debug, Default, Clone)]
pub(super) struct TitleText {
    out: String,
    chars: usize,
    pending_space: bool,
    /// More than `max_chars` characters were seen: the rest cannot matter.
    full: bool,
}

impl TitleText {
    pub(super) fn push(&mut self, s: &str, max_chars: usize) {
        for c in s.chars() {
            if self.full {
                return;
            }
            if matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r') {
                self.pending_space = self.chars > 0;
                continue;
            }
            if self.pending_space {
                self.out.push(' ');
                self.chars += 1;
                self.pending_space = false;
            }
            self.out.push(c);
            self.chars += 1;
            if self.chars > max_chars {
                self.full = true;
            }
        }
    }
}

#[derive(Debug)]
struct Node {
    name: Option<QualName>,
    parent: Option<Id>,
    children: Vec<Id>,
    template_contents: Option<Id>,
    annotation_xml_integration_point: bool,
    /// `Some` for HTML `title` elements only.
    title: Option<TitleText>,
    /// A title whose end tag (or the end of the input) has been seen.
    closed: bool,
}

impl Node {
    fn new(name: Option<QualName>) -> Self {
        Self {
            name,
            parent: None,
            children: Vec::new(),
            template_contents: None,
            annotation_xml_integration_point: false,
            title: None,
            closed: false,
        }
    }

    fn is_html(&self, local: &LocalName) -> bool {
        self.name
            .as_ref()
            .is_some_and(|n| n.ns == ns!(html) && n.local == *local)
    }
}

#[derive(Debug)]
struct Arena {
    nodes: Vec<Node>,
    /// The title element currently receiving text, if any.
    open_title: Option<Id>,
    /// Conservatively tracks the tree builder's frameset-ok flag: true once
    /// something surely set it to "not ok". While it may still be "ok", a
    /// `<frameset>` can remove the whole `body` (and a title in it).
    frameset_not_ok: bool,
    /// The encoding declared by the first HTML `meta` element the tree
    /// builder inserted with a usable `charset` or `http-equiv` +
    /// `content` (the "in head" rule that may change the encoding).
    meta: Option<&'static Encoding>,
}

/// The element name handed back to html5ever.
#[derive(Debug)]
pub(crate) struct Name(QualName);

impl ElemName for Name {
    fn ns(&self) -> &Namespace {
        &self.0.ns
    }
    fn local_name(&self) -> &LocalName {
        &self.0.local
    }
}

struct Sink {
    arena: RefCell<Arena>,
    max_chars: usize,
}

/// Elements whose text does not go through the "in body" character rules
/// (the tokenizer is in RCDATA/RAWTEXT and the insertion mode is "text").
fn text_mode_element(n: &QualName) -> bool {
    n.ns == ns!(html)
        && matches!(
            n.local,
            local_name!("title")
                | local_name!("textarea")
                | local_name!("script")
                | local_name!("style")
                | local_name!("xmp")
                | local_name!("iframe")
                | local_name!("noembed")
                | local_name!("noframes")
                | local_name!("noscript")
        )
}

/// Start tags whose "in body" rule sets frameset-ok to "not ok".
fn sets_frameset_not_ok(n: &QualName) -> bool {
    n.ns == ns!(html)
        && matches!(
            n.local,
            local_name!("pre")
                | local_name!("listing")
                | local_name!("li")
                | local_name!("dd")
                | local_name!("dt")
                | local_name!("button")
                | local_name!("applet")
                | local_name!("marquee")
                | local_name!("object")
                | local_name!("table")
                | local_name!("area")
                | local_name!("br")
                | local_name!("embed")
                | local_name!("img")
                | local_name!("keygen")
                | local_name!("wbr")
                | local_name!("hr")
                | local_name!("textarea")
                | local_name!("xmp")
                | local_name!("iframe")
                | local_name!("select")
        )
}

impl Arena {
    fn close_open_title(&mut self) {
        if let Some(t) = self.open_title.take()
            && let Some(node) = self.nodes.get_mut(t)
        {
            node.closed = true;
        }
    }

    fn detach(&mut self, id: Id) {
        let Some(parent) = self.nodes.get_mut(id).and_then(|n| n.parent.take()) else {
            return;
        };
        if let Some(p) = self.nodes.get_mut(parent) {
            p.children.retain(|&c| c != id);
        }
    }

    fn note_text(&mut self, parent: Id, text: &str) {
        if self.frameset_not_ok {
            return;
        }
        let in_text_mode = self
            .nodes
            .get(parent)
            .and_then(|n| n.name.as_ref())
            .is_some_and(text_mode_element);
        if !in_text_mode
            && text
                .chars()
                .any(|c| !matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r' | '\u{FFFD}'))
        {
            self.frameset_not_ok = true;
        }
    }
}

impl Sink {
    fn append_text(&self, parent: Id, text: &str) {
        let mut a = self.arena.borrow_mut();
        if a.open_title.is_some_and(|t| t != parent) {
            a.close_open_title();
        }
        a.note_text(parent, text);
        if let Some(title) = a.nodes.get_mut(parent).and_then(|n| n.title.as_mut()) {
            title.push(text, self.max_chars);
        }
    }
}

impl TreeSink for Sink {
    type Handle = Id;
    type Output = Arena;
    type ElemName<'a> = Name;

    fn finish(self) -> Arena {
        self.arena.into_inner()
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> Id {
        DOCUMENT
    }

    fn elem_name<'a>(&'a self, target: &'a Id) -> Name {
        let a = self.arena.borrow();
        Name(
            a.nodes
                .get(*target)
                .and_then(|n| n.name.clone())
                .unwrap_or_else(|| QualName::new(None, ns!(), local_name!(""))),
        )
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Id {
        let mut a = self.arena.borrow_mut();
        a.close_open_title();
        if a.meta.is_none() && name.ns == ns!(html) && name.local == local_name!("meta") {
            // An HTML `meta` is only ever inserted by the "in head" rules
            // (directly, or from "in body", "in template", "in table" and
            // foreign content's breakout), which run "change the encoding".
            let attr = |local: LocalName| {
                attrs
                    .iter()
                    .find(|at| at.name.ns == ns!() && at.name.local == local)
                    .map(|at| {
                        let value: &str = &at.value;
                        value.as_bytes()
                    })
            };
            a.meta = meta_declaration(
                attr(local_name!("charset")),
                attr(local_name!("http-equiv")),
                attr(local_name!("content")),
            );
        }
        if !a.frameset_not_ok && sets_frameset_not_ok(&name) {
            a.frameset_not_ok = true;
        }
        let is_title = name.ns == ns!(html) && name.local == local_name!("title");
        let mut node = Node::new(Some(name));
        node.annotation_xml_integration_point = flags.mathml_annotation_xml_integration_point;
        if is_title {
            node.title = Some(TitleText::default());
        }
        let id = a.nodes.len();
        if flags.template {
            // The contents: a fragment that is never attached to the document.
            node.template_contents = Some(id + 1);
            a.nodes.push(node);
            a.nodes.push(Node::new(None));
        } else {
            a.nodes.push(node);
        }
        if is_title {
            a.open_title = Some(id);
        }
        id
    }

    fn create_comment(&self, _text: StrTendril) -> Id {
        IGNORED
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> Id {
        IGNORED
    }

    fn append(&self, parent: &Id, child: NodeOrText<Id>) {
        match child {
            NodeOrText::AppendText(text) => self.append_text(*parent, &text),
            NodeOrText::AppendNode(IGNORED) => {}
            NodeOrText::AppendNode(id) => {
                let mut a = self.arena.borrow_mut();
                a.detach(id);
                if let Some(n) = a.nodes.get_mut(id) {
                    n.parent = Some(*parent);
                }
                if let Some(p) = a.nodes.get_mut(*parent) {
                    p.children.push(id);
                }
            }
        }
    }

    fn append_based_on_parent_node(&self, element: &Id, prev_element: &Id, child: NodeOrText<Id>) {
        let has_parent = self
            .arena
            .borrow()
            .nodes
            .get(*element)
            .is_some_and(|n| n.parent.is_some());
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _: StrTendril, _: StrTendril, _: StrTendril) {}

    fn pop(&self, node: &Id) {
        let mut a = self.arena.borrow_mut();
        if let Some(n) = a.nodes.get_mut(*node)
            && n.title.is_some()
        {
            n.closed = true;
            if a.open_title == Some(*node) {
                a.open_title = None;
            }
        }
    }

    fn get_template_contents(&self, target: &Id) -> Id {
        self.arena
            .borrow()
            .nodes
            .get(*target)
            .and_then(|n| n.template_contents)
            .unwrap_or(IGNORED)
    }

    fn same_node(&self, x: &Id, y: &Id) -> bool {
        x == y
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &Id, new_node: NodeOrText<Id>) {
        let Some(parent) = self
            .arena
            .borrow()
            .nodes
            .get(*sibling)
            .and_then(|n| n.parent)
        else {
            return;
        };
        match new_node {
            NodeOrText::AppendText(text) => self.append_text(parent, &text),
            NodeOrText::AppendNode(IGNORED) => {}
            NodeOrText::AppendNode(id) => {
                let mut a = self.arena.borrow_mut();
                a.detach(id);
                if let Some(n) = a.nodes.get_mut(id) {
                    n.parent = Some(parent);
                }
                if let Some(p) = a.nodes.get_mut(parent) {
                    let at = p
                        .children
                        .iter()
                        .position(|&c| c == *sibling)
                        .unwrap_or(p.children.len());
                    p.children.insert(at, id);
                }
            }
        }
    }

    fn add_attrs_if_missing(&self, _target: &Id, _attrs: Vec<Attribute>) {}

    fn remove_from_parent(&self, target: &Id) {
        self.arena.borrow_mut().detach(*target);
    }

    fn reparent_children(&self, node: &Id, new_parent: &Id) {
        let mut a = self.arena.borrow_mut();
        let children = a
            .nodes
            .get_mut(*node)
            .map(|n| std::mem::take(&mut n.children))
            .unwrap_or_default();
        for &c in &children {
            if let Some(n) = a.nodes.get_mut(c) {
                n.parent = Some(*new_parent);
            }
        }
        if let Some(p) = a.nodes.get_mut(*new_parent) {
            p.children.extend(children);
        }
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &Id) -> bool {
        self.arena
            .borrow()
            .nodes
            .get(*handle)
            .is_some_and(|n| n.annotation_xml_integration_point)
    }
}

/// What one parse found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// The first HTML title in tree order: its collapsed text and whether
    /// it was cut at `max_chars`.
    pub title: Option<(String, bool)>,
    /// No further input can change `title`.
    pub is_final: bool,
    /// The first title has not seen its end tag yet.
    pub title_open: bool,
    /// The encoding the first `meta` the tree builder inserted declares
    /// (UTF-16 already read as UTF-8, x-user-defined as windows-1252).
    pub meta: Option<&'static Encoding>,
}

/// Parses `text` (a prefix of the document when `eof` is false) and reports
/// `document.title`.
pub(crate) fn parse(text: &str, eof: bool, max_chars: usize) -> Parsed {
    let mut nodes = Vec::with_capacity(64);
    nodes.push(Node::new(None)); // DOCUMENT
    nodes.push(Node::new(None)); // IGNORED
    let sink = Sink {
        arena: RefCell::new(Arena {
            nodes,
            open_title: None,
            frameset_not_ok: false,
            meta: None,
        }),
        max_chars,
    };
    let opts = ParseOpts {
        tree_builder: TreeBuilderOpts {
            scripting_enabled: true,
            ..TreeBuilderOpts::default()
        },
        ..ParseOpts::default()
    };
    let mut parser = html5ever::parse_document(sink, opts);
    parser.process(StrTendril::from_slice(text));
    if eof {
        let arena = parser.finish();
        return evaluate(&arena, true, max_chars);
    }
    let arena = parser.tokenizer.sink.sink.arena.borrow();
    evaluate(&arena, false, max_chars)
}

fn first_title(a: &Arena) -> Option<Id> {
    let mut stack = vec![DOCUMENT];
    while let Some(id) = stack.pop() {
        let node = a.nodes.get(id)?;
        if node.title.is_some() {
            return Some(id);
        }
        stack.extend(node.children.iter().rev());
    }
    None
}

fn evaluate(a: &Arena, eof: bool, max_chars: usize) -> Parsed {
    let Some(id) = first_title(a) else {
        return Parsed {
            title: None,
            is_final: eof,
            title_open: false,
            meta: a.meta,
        };
    };
    let node = &a.nodes[id];
    let text = node.title.clone().unwrap_or_default();
    let done = eof || node.closed || text.full;
    let mut is_final = done;
    if !eof {
        // Walk up: a table ancestor means foster parenting can still put a
        // later title in front; a body ancestor means `<frameset>` may
        // still remove the body while frameset-ok is "ok".
        let mut up = node.parent;
        while let Some(p) = up {
            let pn = &a.nodes[p];
            if pn.is_html(&local_name!("table"))
                || (pn.is_html(&local_name!("body")) && !a.frameset_not_ok)
            {
                is_final = false;
            }
            up = pn.parent;
        }
    }
    Parsed {
        title: Some(text.finish(max_chars)),
        is_final,
        title_open: !done,
        meta: a.meta,
    }
}

impl TitleText {
    /// The collapsed text, cut at `max_chars`, and whether it was cut.
    pub(super) fn finish(self, max_chars: usize) -> (String, bool) {
        let mut out = self.out;
        let truncated = self.full;
        if truncated {
            if let Some((idx, _)) = out.char_indices().nth(max_chars) {
                out.truncate(idx);
            }
            let trimmed = out.trim_end_matches(' ').len();
            out.truncate(trimmed);
        }
        (out, truncated)
    }
}
