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
//! - `^FILE` items read one pattern per line (blank lines and `#` comments are
//!   ignored); files may include other files up to a small depth.
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
    HostName, MAX_HOSTS, PatternError, exclude, expand, expand_names, glob_match, parse_target,
};
