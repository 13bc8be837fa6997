//! Line charts as inline SVG, for printable reports. Every text is escaped.

use super::escape::xml as esc;

const COLOURS: &[&str] = &[
    "#1b6ca8", "#d1495b", "#2e8b57", "#edae49", "#6a4c93", "#00798c",
];

/// A line chart: one line per series over `labels` (quarters). `None` leaves a gap.
pub fn line_chart(title: &str, labels: &[String], series: &[(String, Vec<Option<f64>>)]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 260.0, 48.0, 150.0, 28.0, 36.0);
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten())
        .fold(0.0_f64, |a, &b| a.max(b))
        .max(1.0);
    let plot_w = w - left - right;
    let plot_h = h - top - bottom;
    let x = |i: usize| {
        if labels.len() <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (labels.len() - 1) as f64
        }
    };
    let y = |v: f64| top + plot_h - plot_h * v / max;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\" class=\"chart\">\
         <title>{t}</title><text x=\"{left}\" y=\"18\" font-size=\"13\" font-weight=\"bold\">{t}</text>",
        t = esc(title)
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 4.0,
            y(v) + 3.0,
            fmt_num(v),
            y = y(v)
        ));
    }
    for (i, l) in labels.iter().enumerate() {
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - bottom + 16.0,
            esc(l)
        ));
    }
    for (n, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let mut d = String::new();
        let mut pen_up = true;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    d.push_str(&format!(
                        "{}{:.1},{:.1} ",
                        if pen_up { "M" } else { "L" },
                        x(i),
                        y(*v)
                    ));
                    s.push_str(&format!(
                        "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{colour}\"><title>{}: {}</title></circle>",
                        x(i),
                        y(*v),
                        esc(name),
                        fmt_num(*v)
                    ));
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        s.push_str(&format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            d.trim_end(),
            w - right + 12.0,
            top + 16.0 * n as f64,
            w - right + 26.0,
            top + 16.0 * n as f64 + 9.0,
            esc(name)
        ));
    }
    s.push_str("</svg>");
    s
}

/// A number as people read it: whole numbers without decimals, otherwise one or two.
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_escapes_names() {
        let svg = line_chart(
            "<b>x</b>",
            &["2025-Q1".into(), "2025-Q2".into()],
            &[("Den <Haag>".into(), vec![Some(1.0), None])],
        );
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("Den &lt;Haag&gt;"));
        assert_eq!(fmt_num(63.5), "63.5");
        assert_eq!(fmt_num(12.0), "12");
    }
}
