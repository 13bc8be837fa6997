//! The results table (metric, ours, reference, ratio, target, pass/fail) and the machine line
//! printed above it. The workloads build their [`Row`]s; this module only formats them.

// ---- the table ---------------------------------------------------------------------------------

#[derive(Clone, Copy)]
pub enum Target {
    None,
    Max(f64),
    Min(f64),
}

pub struct Row {
    pub metric: String,
    pub ours: Option<f64>,
    pub reference: Option<f64>,
    pub target: Target,
    pub digits: usize,
}

pub fn row(metric: impl Into<String>, ours: Option<f64>, reference: Option<f64>) -> Row {
    Row {
        metric: metric.into(),
        ours,
        reference,
        target: Target::None,
        digits: 1,
    }
}

impl Row {
    pub fn target(mut self, t: Target) -> Row {
        self.target = t;
        self
    }
    pub fn digits(mut self, d: usize) -> Row {
        self.digits = d;
        self
    }
}

/// Print the results. `columns`: the headings of the two value columns and of their ratio.
/// `unjudged`: why the targets (set for the full workload on release builds) do not apply to this
/// run; its result column then says so instead of pass or FAIL.
pub fn print_table(rows: &[Row], columns: [&str; 3], unjudged: Option<&str>) {
    let fmt = |v: Option<f64>, d: usize| match v {
        Some(v) if v.is_finite() => format!("{v:.d$}"),
        Some(v) if v.is_infinite() => "failed".into(),
        Some(_) => "n/a".into(),
        None => "—".into(),
    };
    let mut lines = vec![[
        "metric".to_string(),
        columns[0].into(),
        columns[1].into(),
        columns[2].into(),
        "target".into(),
        "result".into(),
    ]];
    for r in rows {
        let ratio = match (r.ours, r.reference) {
            (Some(o), Some(f)) if f != 0.0 && o.is_finite() && f.is_finite() => {
                format!("{:.2}", o / f)
            }
            _ => "—".into(),
        };
        let (target, result): (String, String) = match (r.target, r.ours) {
            (Target::None, _) => ("".into(), "".into()),
            (Target::Max(m), v) => (
                format!("< {}", fmt(Some(m), r.digits.min(1))),
                v.map(|v| if v < m { "pass" } else { "FAIL" })
                    .unwrap_or("—")
                    .into(),
            ),
            (Target::Min(m), v) => (
                format!(">= {}", fmt(Some(m), 0)),
                v.map(|v| if v >= m { "pass" } else { "FAIL" })
                    .unwrap_or("—")
                    .into(),
            ),
        };
        let result = match unjudged {
            Some(_) if !result.is_empty() => "n/a¹".to_string(),
            _ => result,
        };
        lines.push([
            r.metric.clone(),
            fmt(r.ours, r.digits),
            fmt(r.reference, r.digits),
            ratio,
            target,
            result,
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|c| {
            lines
                .iter()
                .map(|l| l[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (s, w))| {
                let pad = w - s.chars().count();
                if c == 0 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        println!("| {} |", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(c, w)| {
                    if c == 0 {
                        "-".repeat(w + 2)
                    } else {
                        format!("{}:", "-".repeat(w + 1))
                    }
                })
                .collect();
            println!("|{}|", rule.join("|"));
        }
    }
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores ({cpu}), {mem} memory")
}
