//! The printed table: one row per figure, the median over the runs beside its spread and its
//! target, and a verdict where there is a target.

use std::fmt::Write as _;
use std::time::Duration;

/// A target a figure is held to.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// No target: the figure is shown for context.
    None,
    /// The figure must be at least this.
    AtLeast(f64),
    /// The figure must be at most this.
    AtMost(f64),
}

/// One row.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub figure: String,
    /// Median over the runs.
    pub median: f64,
    /// Smallest and largest run, when there were several.
    pub spread: Option<(f64, f64)>,
    /// Unit, printed after the numbers.
    pub unit: &'static str,
    /// The target.
    pub target: Target,
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Megabytes (10^6 bytes, as the targets are written) of a KiB figure from `/proc`.
pub fn mb(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

impl Row {
    /// A row from several runs' values.
    pub fn runs(
        figure: impl Into<String>, values: &[f64], unit: &'static str, target: Target,
    ) -> Row {
        let spread = (values.len() > 1).then(|| {
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (min, max)
        });
        Row { figure: figure.into(), median: median(values), spread, unit, target }
    }

    /// A row from one value.
    pub fn one(figure: impl Into<String>, value: f64, unit: &'static str, target: Target) -> Row {
        Row::runs(figure, &[value], unit, target)
    }

    /// Whether the figure meets its target (`None` without one).
    pub fn met(&self) -> Option<bool> {
        match self.target {
            Target::None => None,
            Target::AtLeast(t) => Some(self.median >= t),
            Target::AtMost(t) => Some(self.median <= t),
        }
    }
}

/// Formats a number with a precision that suits its size.
fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        let s = format!("{v:.0}");
        let (sign, digits) = s.split_at(if v < 0.0 { 1 } else { 0 });
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A section heading and its rows.
pub struct Section {
    /// The heading.
    pub title: String,
    /// The rows.
    pub rows: Vec<Row>,
}

/// The whole table as text (Markdown, so it can be pasted into the README as it is).
pub fn render(sections: &[Section]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| figure | median | min – max | target | |");
    let _ = writeln!(out, "|---|---:|---:|---|---|");
    for section in sections {
        let _ = writeln!(out, "| **{}** | | | | |", section.title);
        for row in &section.rows {
            let spread =
                row.spread.map(|(a, b)| format!("{} – {}", num(a), num(b))).unwrap_or_default();
            let target = match row.target {
                Target::None => String::new(),
                Target::AtLeast(t) => format!("≥ {} {}", num(t), row.unit),
                Target::AtMost(t) => format!("≤ {} {}", num(t), row.unit),
            };
            let verdict = match row.met() {
                None => "",
                Some(true) => "met",
                Some(false) => "**missed**",
            };
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} |",
                row.figure,
                num(row.median),
                row.unit,
                spread,
                target,
                verdict
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_verdicts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let row = Row::runs("x", &[5.0, 7.0, 6.0], "ms", Target::AtMost(6.0));
        assert_eq!(row.met(), Some(true));
        assert_eq!(row.spread, Some((5.0, 7.0)));
        assert_eq!(Row::one("y", 1.0, "ms", Target::AtLeast(2.0)).met(), Some(false));
        assert_eq!(num(81234.4), "81,234");
        assert_eq!(num(0.456), "0.46");
    }
}
