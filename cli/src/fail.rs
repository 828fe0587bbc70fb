//! The one error type: a message for the operator and an exit status.

use std::fmt;

/// What went wrong, said in one line.
#[derive(Debug)]
pub struct Fail {
    pub msg: String,
    pub code: u8,
}

impl Fail {
    /// Bad input or an unusable environment (exit status 1).
    pub fn new(msg: impl Into<String>) -> Fail {
        Fail {
            msg: one_line(msg.into()),
            code: 1,
        }
    }

    /// The same failure with another exit status (127: program not found).
    pub fn code(mut self, code: u8) -> Fail {
        self.code = code;
        self
    }
}

fn one_line(s: String) -> String {
    if s.contains('\n') {
        s.split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    } else {
        s
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// `fail!("...")`: an early return with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($t:tt)*) => { return Err($crate::fail::Fail::new(format!($($t)*))) };
}
