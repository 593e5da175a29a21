//! The patterns users write (`--exclude`, `--include`, a config's `exclude` and `include`
//! params, `.dropboxignore` lines), in gitignore syntax: checked here when they are read
//! (the config and the command line), compiled and matched by `upload::filter`.

use ignore::gitignore::GitignoreBuilder;

/// Checks one `--exclude`/`--include` pattern (clap's value parser, and config params).
pub fn check_glob(glob: &str) -> Result<(), String> {
    if glob.starts_with('!') {
        return Err(format!(
            "{glob:?}: a pattern cannot start with `!`; use --include to post only what matches"
        ));
    }
    if backslash_separator(glob) {
        return Err(format!("{glob:?}: {BACKSLASH}"));
    }
    let mut builder = GitignoreBuilder::new("");
    (builder.add_line(None, &literal(glob)))
        .map(|_| ())
        .map_err(|e| format!("{glob:?} is not a valid pattern: {e}"))
}

/// Why a `\` before a letter or digit is refused: it escapes nothing, so it is a Windows
/// separator written into a pattern (`keys\token.txt` would mean `keystoken.txt` and match
/// nothing).
pub(crate) const BACKSLASH: &str =
    "`\\` escapes the next character in gitignore syntax and does not separate folders: use /";

pub(crate) fn backslash_separator(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(next) if next.is_ascii_alphanumeric() => return true,
                _ => {}
            }
        }
    }
    false
}

/// A command-line or config pattern as one gitignore line: a leading `#` is literal there,
/// not a comment.
pub(crate) fn literal(glob: &str) -> String {
    match glob.strip_prefix('#') {
        Some(rest) => format!("\\#{rest}"),
        None => glob.to_string(),
    }
}
