//! Host selection: the pdsh/clush range syntax and its inverse.
//!
//! Design:
//! - [`expand`] turns a pattern such as `web[01-10,15],root@db[1-2]:2222,^more.txt`
//!   into an ordered, de-duplicated list of [`HostName`]s. The pattern is first
//!   split at top-level commas (commas inside `[...]` are range lists), each item
//!   is expanded as the cartesian product of its bracket groups (leftmost group
//!   varies slowest, as pdsh and clush do), and only then is every resulting word
//!   split into `user@host:port`. Sizes are computed before anything is
//!   materialised, so `h[0-99999999]` is rejected without allocating.
//! - A [`Selection`] is one run's hosts: every `-w`, `^FILE` line, group and
//!   `-a` goes through it, so the [`MAX_HOSTS`] cap holds for the whole run,
//!   not per flag. Each item is sized before it is expanded; only when that
//!   size would cross the cap are its words counted (one at a time, nothing
//!   kept) against the hosts already selected, so duplicates never fail a
//!   legal selection and the item that crosses is refused, by name, before
//!   it is expanded. Repeated items are skipped.
//! - `^FILE` items read one pattern per line (blank lines and `#` comments are
//!   ignored); files may include other files up to a small depth. Reads are
//!   bounded: [`MAX_LINE_BYTES`] per line, [`MAX_FILE_BYTES`] for all the
//!   files of a selection, so `^/dev/zero` fails at once with file and line.
//!   Errors quote at most 200 characters ([`crate::excerpt`]).
//! - `[::1]` is an IPv6 literal, not a range: a bracket group whose content is
//!   not made of digits, `-`, `,` and `/` but contains `:` is kept verbatim.
//! - [`exclude`] removes hosts given by another pattern (globs `*`/`?` allowed).
//! - [`fold`] is the inverse used for headers and summaries: names are folded on
//!   their last run of digits into `prefix[ranges]suffix`, keeping zero padding,
//!   one group per prefix/suffix/padding, sorted naturally, like clush NodeSet.

mod fold;
mod pattern;

pub use fold::{fold, natural_cmp};
pub use pattern::{
    HostName, MAX_FILE_BYTES, MAX_HOSTS, MAX_LINE_BYTES, PatternError, Selection, check, exclude,
    expand, expand_names, glob_match, parse_target, size,
};
