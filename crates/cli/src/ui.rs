//! `--color` and `--quiet`, flattened into each tool's flags, with the
//! rules for colour (`NO_COLOR`, terminal detection) and progress bars
//! (only when stderr is a terminal).

use std::io::IsTerminal;

/// When to colour output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour, even into pipes and files.
    Always,
    /// Never colour.
    Never,
}

/// User-interface flags shared by every tool. Flatten with
/// `#[command(flatten)] ui: UiArgs`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct UiArgs {
    /// Colour output: auto (terminal and NO_COLOR unset), always or never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No progress bar and no summary chatter on stderr (errors still print).
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

impl UiArgs {
    /// Whether to colour what goes to stdout.
    pub fn color_for_stdout(&self) -> bool {
        resolve_color(self.color, std::io::stdout().is_terminal())
    }

    /// Whether to colour what goes to stderr.
    pub fn color_for_stderr(&self) -> bool {
        resolve_color(self.color, std::io::stderr().is_terminal())
    }

    /// Progress bars show only when stderr is a terminal and not `--quiet`.
    pub fn progress_enabled(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// The colour decision: `always` and `never` win; `auto` colours a terminal
/// unless `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn resolve_color(choice: ColorChoice, is_terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            is_terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_rules() {
        assert!(resolve_color(ColorChoice::Always, false));
        assert!(!resolve_color(ColorChoice::Never, true));
        assert!(!resolve_color(ColorChoice::Auto, false));
    }
}
