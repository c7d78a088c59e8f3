//! The title engine: a pure, streaming, panic-free library that turns the
//! bytes of an HTML body into `document.title`.
//!
//! - [`tree`] is a minimal html5ever tree sink: the tree an HTML5 parser
//!   builds, reduced to what `document.title` depends on;
//! - [`prescan`] is the WHATWG `<meta>` prescan of the first 1024 bytes;
//! - [`charset`] holds the charset vocabulary (BOM > header > meta >
//!   chardetng > UTF-8 is applied by the extractor);
//! - [`extractor`] ties them together, fed chunk by chunk.

mod charset;
mod extractor;
mod fast;
mod prescan;
mod tree;
mod xml;

pub use charset::{CharsetSource, charset_from_content_type};
pub use extractor::{
    DETECTION_WINDOW, ExtractOptions, Extraction, ScanEnd, TitleExtractor, extract_title,
};
