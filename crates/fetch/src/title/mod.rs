//! The title engine: a pure, streaming, panic-free library that turns the
//! first bytes of an HTML body into `document.title`.
//!
//! - [`scanner`] finds the first HTML-namespace `<title>` on raw bytes;
//! - [`prescan`] is the WHATWG `<meta>` prescan of the first 1024 bytes;
//! - [`charset`] applies BOM > header > meta > chardetng > UTF-8;
//! - [`text`] decodes entities and collapses whitespace;
//! - [`extractor`] ties them together, fed chunk by chunk.

mod charset;
mod extractor;
mod prescan;
mod scanner;
mod text;

pub use charset::{CharsetSource, charset_from_content_type};
pub use extractor::{
    DETECTION_WINDOW, ExtractOptions, Extraction, ScanEnd, TitleExtractor, extract_title,
};
