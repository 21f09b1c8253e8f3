//! Kernel command line (`/chosen/bootargs`) parsing, Linux style.
//!
//! Words are separated by spaces; a word is `key=value` or a bare flag. Values may be
//! double-quoted to hold spaces (`msg="a b"`). Parsing never allocates and never fails:
//! an unterminated quote runs to the end of the line, as in Linux's `next_arg()`.

/// One command-line word: `key=value` (value may be empty) or a bare `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub key: &'a str,
    pub value: Option<&'a str>,
}

/// Iterator over the parameters of a command line.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    rest: &'a str,
}

/// Splits `line` into parameters.
pub fn params(line: &str) -> Params<'_> {
    Params { rest: line }
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let s = self.rest.trim_start();
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        // Find the end of the word, honouring double quotes.
        let mut in_quote = false;
        let mut end = s.len();
        for (i, c) in s.char_indices() {
            match c {
                '"' => in_quote = !in_quote,
                c if c.is_whitespace() && !in_quote => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let word = &s[..end];
        self.rest = &s[end..];
        Some(match word.split_once('=') {
            Some((key, value)) => Param {
                key,
                value: Some(strip_quotes(value)),
            },
            None => Param {
                key: strip_quotes(word),
                value: None,
            },
        })
    }
}

fn strip_quotes(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

/// The value of the last `key=value` for `key` (later words override earlier ones,
/// as Linux's early params do), or `None`.
pub fn get<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    params(line)
        .filter(|p| p.key == key)
        .last()
        .and_then(|p| p.value)
}

/// Whether the bare flag `key` (or `key=...`) appears.
pub fn has(line: &str, key: &str) -> bool {
    params(line).any(|p| p.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_keys_values_and_flags() {
        let v: alloc::vec::Vec<_> = params("  loglevel=7 quiet  init=/x ").collect();
        assert_eq!(
            v,
            [
                Param {
                    key: "loglevel",
                    value: Some("7")
                },
                Param {
                    key: "quiet",
                    value: None
                },
                Param {
                    key: "init",
                    value: Some("/x")
                },
            ]
        );
    }

    #[test]
    fn quoted_values_keep_spaces() {
        assert_eq!(
            get(r#"a=1 msg="hello world" b"#, "msg"),
            Some("hello world")
        );
        assert!(has(r#"a=1 msg="hello world" b"#, "b"));
    }

    #[test]
    fn last_value_wins_and_empty_is_empty() {
        assert_eq!(get("x=1 x=2", "x"), Some("2"));
        assert_eq!(get("x=", "x"), Some(""));
        assert_eq!(get("", "x"), None);
        assert_eq!(params("   ").count(), 0);
    }

    #[test]
    fn unterminated_quote_runs_to_end() {
        assert_eq!(get(r#"m="a b"#, "m"), Some("a b"));
    }
}
