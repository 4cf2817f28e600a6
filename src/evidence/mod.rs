//! The evidence pack: what the auditor was given, what they did with it, and
//! the proof that it was taken away. `pack` is the data (the `json` format),
//! `activity` turns CloudTrail events into its summary, `render` writes the
//! `md` and `html` formats.

pub mod activity;
pub mod pack;
pub mod render;

/// The formats `audit-grants evidence --format` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Json,
    Md,
    Html,
}

impl Format {
    /// The pack in this format.
    pub fn render(self, pack: &pack::Pack) -> String {
        match self {
            Format::Json => {
                let mut text = serde_json::to_string_pretty(pack).expect("a pack serialises");
                text.push('\n');
                text
            }
            Format::Md => render::markdown(pack),
            Format::Html => render::html(pack),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Md => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
        }
    }
}
