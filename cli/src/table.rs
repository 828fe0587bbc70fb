//! Aligned text tables for humans.

/// A table: a header row and data rows, all cells text.
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns aligned right (numbers).
    right: Vec<bool>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            right: vec![false; head.len()],
        }
    }

    /// Aligns these columns (by index) to the right.
    pub fn right(mut self, cols: &[usize]) -> Table {
        for &c in cols {
            if c < self.right.len() {
                self.right[c] = true;
            }
        }
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        self.render_fit(usize::MAX)
    }

    /// Like `render`, with the last column's words wrapped onto indented
    /// continuation lines so that no line is longer than `width`.
    pub fn render_fit(&self, width: usize) -> String {
        let n = self.head.len();
        let mut w = vec![0usize; n];
        for r in std::iter::once(&self.head).chain(self.rows.iter()) {
            for (i, c) in r.iter().enumerate().take(n) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let lead: usize = w[..n - 1].iter().map(|x| x + 2).sum();
        if n > 1 && lead + w[n - 1] > width && width > lead + 16 {
            return self.wrapped(width - lead);
        }
        let mut s = String::new();
        let fmt_row = |s: &mut String, r: &[String]| {
            let mut line = String::new();
            for (i, &wi) in w.iter().enumerate() {
                let c = r.get(i).map(String::as_str).unwrap_or("");
                let pad = wi - c.chars().count();
                if i > 0 {
                    line.push_str("  ");
                }
                if self.right[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    if i + 1 < n {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        };
        fmt_row(&mut s, &self.head);
        for r in &self.rows {
            fmt_row(&mut s, r);
        }
        s.pop();
        s
    }
}

impl Table {
    /// The same table with the last column's words spread over continuation
    /// rows (other cells empty) of at most `room` characters.
    fn wrapped(&self, room: usize) -> String {
        let n = self.head.len();
        let mut rows = Vec::new();
        for r in std::iter::once(&self.head).chain(self.rows.iter()) {
            let last = r.get(n - 1).cloned().unwrap_or_default();
            let mut pieces: Vec<String> = vec![String::new()];
            for word in last.split_whitespace() {
                let cur = pieces.last_mut().expect("one piece at least");
                if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > room {
                    pieces.push(word.to_string());
                } else {
                    if !cur.is_empty() {
                        cur.push(' ');
                    }
                    cur.push_str(word);
                }
            }
            let mut first = r.clone();
            first.resize(n, String::new());
            first[n - 1] = pieces[0].clone();
            rows.push(first);
            for p in &pieces[1..] {
                let mut cont = vec![String::new(); n];
                cont[n - 1] = p.clone();
                rows.push(cont);
            }
        }
        Table {
            head: rows[0].clone(),
            rows: rows[1..].to_vec(),
            right: self.right.clone(),
        }
        .render()
    }
}

/// 1234567 -> "1.2 MB"-style sizes.
pub fn bytes(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
