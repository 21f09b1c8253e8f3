//! The shell's line editor: turns typed bytes into echo output and complete lines.
//!
//! It owns a fixed-size line buffer (no allocation per keystroke) and understands
//! what a serial terminal sends: printable ASCII is inserted and echoed, Backspace
//! (DEL 0x7f or BS 0x08) erases one character, Ctrl-C drops the line (echoing `^C`),
//! Ctrl-U erases the whole line, CR or LF ends it (a LF right after a CR is the same
//! line ending and is swallowed, so `\r\n` from a pipe gives one line, not two).
//! Anything else (escape sequences, other control characters) is ignored.

/// Longest line the shell accepts; further printable bytes are dropped (and the
/// terminal bell is rung), as a Linux tty in canonical mode does at 4095.
pub const MAX_LINE: usize = 256;

/// What the caller must do after feeding one byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to print.
    None,
    /// Echo this byte.
    Echo(u8),
    /// Erase one character on the terminal (`\b \b`).
    Erase,
    /// Erase this many characters.
    EraseN(usize),
    /// The line buffer is full: ring the bell.
    Bell,
    /// Ctrl-C: the line was dropped; print `^C` and a new prompt.
    Cancel,
    /// The line is complete: print a newline and run [`LineEditor::line`].
    Submit,
}

/// Line editor state.
#[derive(Debug, Clone)]
pub struct LineEditor {
    buf: [u8; MAX_LINE],
    len: usize,
    last_was_cr: bool,
    submitted: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_LINE],
            len: 0,
            last_was_cr: false,
            submitted: false,
        }
    }

    /// Feeds one byte from the terminal.
    pub fn feed(&mut self, byte: u8) -> Action {
        let after_cr = core::mem::replace(&mut self.last_was_cr, byte == b'\r');
        if byte == b'\n' && after_cr {
            return Action::None;
        }
        if self.submitted {
            self.submitted = false;
            self.len = 0;
        }
        match byte {
            b'\r' | b'\n' => {
                self.submitted = true;
                Action::Submit
            }
            0x03 => {
                self.len = 0;
                Action::Cancel
            }
            0x15 => {
                let n = core::mem::replace(&mut self.len, 0);
                if n == 0 {
                    Action::None
                } else {
                    Action::EraseN(n)
                }
            }
            0x08 | 0x7f => {
                if self.len == 0 {
                    Action::None
                } else {
                    self.len -= 1;
                    Action::Erase
                }
            }
            0x20..=0x7e => {
                if self.len == MAX_LINE {
                    Action::Bell
                } else {
                    self.buf[self.len] = byte;
                    self.len += 1;
                    Action::Echo(byte)
                }
            }
            _ => Action::None,
        }
    }

    /// The line being edited, or the submitted line right after [`Action::Submit`].
    pub fn line(&self) -> &str {
        // Only bytes 0x20..=0x7e ever enter the buffer, so it is always ASCII.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_str(ed: &mut LineEditor, s: &[u8]) -> alloc::vec::Vec<Action> {
        s.iter().map(|&b| ed.feed(b)).collect()
    }

    #[test]
    fn typing_echoes_and_submits() {
        let mut ed = LineEditor::new();
        let acts = type_str(&mut ed, b"ls\r");
        assert_eq!(
            acts,
            [Action::Echo(b'l'), Action::Echo(b's'), Action::Submit]
        );
        assert_eq!(ed.line(), "ls");
    }

    #[test]
    fn crlf_is_one_line_and_next_line_starts_empty() {
        let mut ed = LineEditor::new();
        type_str(&mut ed, b"a\r\n");
        assert_eq!(ed.line(), "a");
        assert_eq!(ed.feed(b'b'), Action::Echo(b'b'));
        assert_eq!(ed.line(), "b");
        // A lone LF submits too, and an empty line submits an empty string.
        assert_eq!(ed.feed(b'\n'), Action::Submit);
        assert_eq!(ed.feed(b'\n'), Action::Submit);
        assert_eq!(ed.line(), "");
    }

    #[test]
    fn backspace_erases_and_stops_at_empty() {
        let mut ed = LineEditor::new();
        type_str(&mut ed, b"ab");
        assert_eq!(ed.feed(0x7f), Action::Erase);
        assert_eq!(ed.feed(0x08), Action::Erase);
        assert_eq!(ed.feed(0x7f), Action::None);
        type_str(&mut ed, b"c\r");
        assert_eq!(ed.line(), "c");
    }

    #[test]
    fn ctrl_c_drops_line_ctrl_u_erases() {
        let mut ed = LineEditor::new();
        type_str(&mut ed, b"rm");
        assert_eq!(ed.feed(0x03), Action::Cancel);
        assert_eq!(ed.line(), "");
        type_str(&mut ed, b"abc");
        assert_eq!(ed.feed(0x15), Action::EraseN(3));
        assert_eq!(ed.line(), "");
    }

    #[test]
    fn overlong_line_rings_bell_and_escape_is_ignored() {
        let mut ed = LineEditor::new();
        for _ in 0..MAX_LINE {
            assert!(matches!(ed.feed(b'x'), Action::Echo(_)));
        }
        assert_eq!(ed.feed(b'y'), Action::Bell);
        assert_eq!(ed.line().len(), MAX_LINE);
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(0x1b), Action::None);
        assert_eq!(ed.feed(b'['), Action::Echo(b'['));
    }
}
