//! Adds a `dropbox_post.py` `<script>` to a librec-auto config without touching any other
//! byte: quick-xml finds where (`/librec-auto/post`, else the end of `<librec-auto>`) and how
//! the file is laid out (indentation, line endings); the new text is spliced in at that byte
//! offset. Comments, blank lines, attribute quoting and other scripts stay exactly as written.

use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::reader::Reader;

/// The params of the script to add, as they will be written (escaped here).
#[derive(Debug, Clone, Copy)]
pub struct NewScript<'a> {
    /// The `src` attribute: the folder librec-auto runs `dropbox_post.py` from.
    pub src: &'a str,
    pub option: &'a str,
    pub encrypted_key: &'a str,
    pub path: &'a str,
    pub dest: &'a str,
}

/// An element's byte span in the document.
#[derive(Debug, Clone)]
enum Span {
    /// `<x …>…</x>`: where its content starts and its end tag starts.
    Open { content: usize, end_tag: usize },
    /// `<x …/>`: the whole tag, and the tag's (qualified) name for the end tag to write.
    Empty {
        start: usize,
        end: usize,
        name: String,
    },
}

/// What the one pass over the document learns.
#[derive(Debug, Default)]
struct Found {
    root: Option<Span>,
    /// Byte range of the whole root element.
    root_range: (usize, usize),
    root_indent: String,
    /// The first `/librec-auto/post`, with its indentation if it starts a line.
    post: Option<(Span, Option<String>)>,
    /// Indentation of the root's first child element that starts a line.
    child_indent: Option<String>,
    /// Of the post's first child element that starts a line, and of its children.
    script_indent: Option<String>,
    param_indent: Option<String>,
    /// One level of indentation: the first child whose indentation extends its parent's.
    unit: Option<String>,
}

struct Frame {
    indent: Option<String>,
    content: usize,
    is_post: bool,
}

/// `text` with `script` added as the last child of its first `<post>` (created if needed).
/// `text` must be a well-formed librec-auto config (checked by `config::parse` first).
pub fn add_script(text: &str, script: &NewScript) -> Result<String, quick_xml::Error> {
    // quick-xml skips a byte order mark without counting it in its offsets.
    match text.strip_prefix('\u{feff}') {
        Some(body) => Ok(format!("\u{feff}{}", add_to_body(body, script)?)),
        None => add_to_body(text, script),
    }
}

fn add_to_body(text: &str, script: &NewScript) -> Result<String, quick_xml::Error> {
    let found = locate(text)?;
    let Some(root) = found.root.clone() else {
        return Err(quick_xml::Error::IllFormed(
            quick_xml::errors::IllFormedError::MissingEndTag("librec-auto".into()),
        ));
    };
    let (root_start, root_end) = found.root_range;
    // A config written on one line gets the script on that line too.
    let compact = !text[root_start..root_end].contains(BREAKS);
    let (nl, unit) = if compact {
        ("", String::new())
    } else {
        (
            line_ending(text),
            found.unit.clone().unwrap_or_else(|| "  ".to_string()),
        )
    };
    let pick = |seen: &Option<String>, parent: &str| match seen {
        Some(indent) if !compact => indent.clone(),
        _ if compact => String::new(),
        _ => format!("{parent}{unit}"),
    };
    let root_indent = if compact { "" } else { &found.root_indent };
    let post_indent = match &found.post {
        Some((_, own @ Some(_))) => pick(own, root_indent),
        _ => pick(&found.child_indent, root_indent),
    };
    let script_indent = pick(&found.script_indent, &post_indent);
    let param_indent = pick(&found.param_indent, &script_indent);
    let element = script_xml(script, nl, &script_indent, &param_indent);
    Ok(match found.post {
        Some((post, _)) => insert_child(text, &post, &post_indent, &element, nl),
        None => {
            let post = format!("{post_indent}<post>{nl}{element}{nl}{post_indent}</post>");
            insert_child(text, &root, root_indent, &post, nl)
        }
    })
}

fn locate(text: &str) -> Result<Found, quick_xml::Error> {
    let mut reader = Reader::from_str(text);
    let mut found = Found::default();
    let mut stack: Vec<Frame> = Vec::new();
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader.read_event()?;
        let end = reader.buffer_position() as usize;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let indent = line_indent(text, start);
                if let (None, Some(child), Some(Some(parent))) =
                    (&found.unit, &indent, stack.last().map(|f| &f.indent))
                    && child.len() > parent.len()
                    && child.starts_with(parent.as_str())
                {
                    found.unit = Some(child[parent.len()..].to_string());
                }
                let in_post = stack.get(1).is_some_and(|f| f.is_post);
                let is_post =
                    stack.len() == 1 && found.post.is_none() && e.local_name().as_ref() == "post";
                match stack.len() {
                    0 => {
                        found.root_indent = indent.clone().unwrap_or_default();
                        found.root_range.0 = start;
                    }
                    1 if found.child_indent.is_none() => found.child_indent = indent.clone(),
                    2 if in_post && found.script_indent.is_none() => {
                        found.script_indent = indent.clone();
                    }
                    3 if in_post && found.param_indent.is_none() => {
                        found.param_indent = indent.clone();
                    }
                    _ => {}
                }
                if matches!(event, Event::Empty(_)) {
                    let span = Span::Empty {
                        start,
                        end,
                        name: e.name().as_ref().to_string(),
                    };
                    if stack.is_empty() {
                        found.root = Some(span);
                        found.root_range.1 = end;
                    } else if is_post {
                        found.post = Some((span, indent));
                    }
                } else {
                    stack.push(Frame {
                        indent,
                        content: end,
                        is_post,
                    });
                }
            }
            Event::End(_) => {
                let frame = stack.pop().expect("quick-xml checks end tags");
                let span = Span::Open {
                    content: frame.content,
                    end_tag: start,
                };
                if stack.is_empty() {
                    found.root = Some(span);
                    found.root_range.1 = end;
                } else if frame.is_post {
                    found.post = Some((span, frame.indent));
                }
            }
            Event::Eof => return Ok(found),
            _ => {}
        }
    }
}

/// What ends a line: `\n`, `\r\n`, or (old Mac files) a lone `\r`, as XML reads them.
const BREAKS: [char; 2] = ['\r', '\n'];

/// The spaces and tabs before `pos` when nothing else precedes it on its line.
fn line_indent(text: &str, pos: usize) -> Option<String> {
    let line_start = text[..pos].rfind(BREAKS).map_or(0, |i| i + 1);
    let before = &text[line_start..pos];
    before
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
        .then(|| before.to_string())
}

/// The file's line ending: the one most of its lines end with.
fn line_ending(text: &str) -> &'static str {
    let crlf = text.matches("\r\n").count();
    let lf = text.matches('\n').count() - crlf;
    let cr = text.matches('\r').count() - crlf;
    if crlf > lf.max(cr) {
        "\r\n"
    } else if cr > lf {
        "\r"
    } else {
        "\n"
    }
}

fn script_xml(script: &NewScript, nl: &str, indent: &str, child_indent: &str) -> String {
    let mut out = format!(
        "{indent}<script lang=\"python3\" src=\"{}\">",
        escape(script.src)
    );
    let mut child = |element: String| {
        out.push_str(nl);
        out.push_str(child_indent);
        out.push_str(&element);
    };
    child("<script-name>dropbox_post.py</script-name>".to_string());
    for (name, value) in [
        ("option", script.option),
        ("encrypted_key", script.encrypted_key),
        ("path", script.path),
        ("dest", script.dest),
        ("password", ""),
    ] {
        child(format!("<param name=\"{name}\">{}</param>", escape(value)));
    }
    out.push_str(nl);
    out.push_str(indent);
    out.push_str("</script>");
    out
}

/// `child` (already indented) as the last child of `parent`: after its last non-blank content,
/// on a line of its own; the parent's end tag keeps the line it was on, or gets one.
fn insert_child(text: &str, parent: &Span, parent_indent: &str, child: &str, nl: &str) -> String {
    match parent {
        Span::Open { content, end_tag } => {
            let inside = &text[*content..*end_tag];
            let at = content + inside.trim_end_matches([' ', '\t', '\r', '\n']).len();
            let mut insert = format!("{nl}{child}");
            if !text[at..*end_tag].contains(BREAKS) {
                insert.push_str(nl);
                insert.push_str(parent_indent);
            }
            [&text[..at], &insert, &text[at..]].concat()
        }
        Span::Empty { start, end, name } => {
            let open = text[*start..*end]
                .strip_suffix("/>")
                .expect("an empty element ends with />")
                .trim_end();
            format!(
                "{}{open}>{nl}{child}{nl}{parent_indent}</{name}>{}",
                &text[..*start],
                &text[*end..]
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: NewScript = NewScript {
        src: "/venv/share/dropbox-post/librec-auto",
        option: "folder",
        encrypted_key: "keys/dropbox.enc",
        path: "post",
        dest: "/study",
    };

    /// The script element as it should be written, lines joined by `nl`, at `indent`, its
    /// children at `indent` + `unit`.
    fn block(nl: &str, indent: &str, unit: &str) -> String {
        let child = format!("{indent}{unit}");
        [
            format!(
                "{indent}<script lang=\"python3\" src=\"/venv/share/dropbox-post/librec-auto\">"
            ),
            format!("{child}<script-name>dropbox_post.py</script-name>"),
            format!("{child}<param name=\"option\">folder</param>"),
            format!("{child}<param name=\"encrypted_key\">keys/dropbox.enc</param>"),
            format!("{child}<param name=\"path\">post</param>"),
            format!("{child}<param name=\"dest\">/study</param>"),
            format!("{child}<param name=\"password\"></param>"),
            format!("{indent}</script>"),
        ]
        .join(nl)
    }

    /// Splices the script in; the result must parse with it as the last dropbox script.
    fn add(old: &str) -> String {
        let new = add_script(old, &SCRIPT).unwrap();
        let scripts = crate::config::parse(&new, "config.xml").unwrap();
        let added = scripts.iter().rfind(|s| s.is_dropbox()).unwrap();
        for (name, value) in [
            ("option", "folder"),
            ("encrypted_key", "keys/dropbox.enc"),
            ("path", "post"),
            ("dest", "/study"),
            ("password", ""),
        ] {
            assert_eq!(added.param(name), Some(value), "{new}");
        }
        new
    }

    #[test]
    fn in_the_files_own_layout_and_nothing_else_changed() {
        let two = block("\n", "    ", "  ");
        // (what, config, a part of it that occurs once, what that part becomes)
        let cases: [(&str, &str, &str, String); 11] = [
            (
                "after the other scripts, the comment before them kept",
                include_str!("../../../../examples/study/conf/config.xml"),
                "    </script>\n  </post>",
                format!("    </script>\n{two}\n  </post>"),
            ),
            (
                "CRLF and tabs",
                "<?xml version=\"1.0\"?>\r\n<librec-auto>\r\n\t<post>\r\n\t\t<!-- none yet -->\r\n\t</post>\r\n</librec-auto>\r\n",
                "<!-- none yet -->",
                format!("<!-- none yet -->\r\n{}", block("\r\n", "\t\t", "\t")),
            ),
            (
                "no <post>: one at the end of the root, after its last comment",
                "<librec-auto>\n    <data>\n        <data-dir>data</data-dir>\n    </data>\n    <!-- the end -->\n</librec-auto>",
                "<!-- the end -->",
                format!(
                    "<!-- the end -->\n    <post>\n{}\n    </post>",
                    block("\n", "        ", "    ")
                ),
            ),
            (
                "<post/>: the one element whose own bytes change, into an open/close pair",
                "<librec-auto>\n  <post  a='1' />\n</librec-auto>\n",
                "<post  a='1' />",
                format!("<post  a='1'>\n{two}\n  </post>"),
            ),
            (
                "<post></post>",
                "<librec-auto>\n  <post></post>\n</librec-auto>\n",
                "<post></post>",
                format!("<post>\n{two}\n  </post>"),
            ),
            (
                "a blank <post>",
                "<librec-auto>\n  <post>\n  </post>\n</librec-auto>\n",
                "<post>\n  </post>",
                format!("<post>\n{two}\n  </post>"),
            ),
            (
                "the first <post> under the root only",
                "<librec-auto>\n  <alg><post/></alg>\n  <post>\n    <script><script-name>a.py</script-name></script>\n  </post>\n  <post/>\n</librec-auto>\n",
                "</script>\n  </post>",
                format!("</script>\n{two}\n  </post>"),
            ),
            (
                "a script on the line of its <post>",
                "<librec-auto>\n  <post><script><script-name>a.py</script-name></script></post>\n</librec-auto>\n",
                "</script></post>",
                format!("</script>\n{two}\n  </post>"),
            ),
            (
                "root children flush left, scripts indented by 3",
                "<librec-auto>\n<post>\n   <script>\n      <script-name>x.py</script-name>\n   </script>\n</post>\n</librec-auto>\n",
                "   </script>\n</post>",
                format!("   </script>\n{}\n</post>", block("\n", "   ", "   ")),
            ),
            (
                "CR only (old Mac files): lines end with CR",
                "<librec-auto>\r  <post>\r  </post>\r</librec-auto>\r",
                "<post>\r  </post>",
                format!("<post>\r{}\r  </post>", block("\r", "    ", "  ")),
            ),
            (
                "a config on one line stays on one line",
                "<librec-auto><post/></librec-auto>\n",
                "<post/>",
                format!("<post>{}</post>", block("", "", "")),
            ),
        ];
        for (what, old, part, becomes) in cases {
            assert_eq!(old.matches(part).count(), 1, "{what}");
            assert_eq!(add(old), old.replacen(part, &becomes, 1), "{what}");
        }
        // A byte order mark, and an empty root.
        assert_eq!(
            add("\u{feff}<librec-auto/>"),
            format!(
                "\u{feff}<librec-auto><post>{}</post></librec-auto>",
                block("", "", "")
            )
        );
    }

    #[test]
    fn values_are_escaped() {
        let old = "<librec-auto>\n</librec-auto>\n";
        let script = NewScript {
            src: "C:\\Users\\a&b \"q\"\\share",
            path: "r<1>.csv",
            ..SCRIPT
        };
        let new = add_script(old, &script).unwrap();
        assert!(
            new.contains("src=\"C:\\Users\\a&amp;b &quot;q&quot;\\share\""),
            "{new}"
        );
        assert!(
            new.contains("<param name=\"path\">r&lt;1&gt;.csv</param>"),
            "{new}"
        );
        let scripts = crate::config::parse(&new, "c").unwrap();
        assert_eq!(scripts[0].param("path"), Some("r<1>.csv"));
    }
}
