//! Line charts as inline SVG, for printable reports. Every text is escaped.

use super::escape::xml as esc;
use super::labels::{Lang, number};

const COLOURS: &[&str] = &[
    "#1b6ca8", "#d1495b", "#2e8b57", "#edae49", "#6a4c93", "#00798c",
];

/// A line chart: one line per series over `labels` (quarters). `None` leaves a gap. The axis
/// runs from 0 in round steps, its numbers written as `lang` writes them.
pub fn line_chart(
    title: &str,
    labels: &[String],
    series: &[(String, Vec<Option<f64>>)],
    lang: Lang,
) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 260.0, 48.0, 150.0, 28.0, 36.0);
    let values = || series.iter().flat_map(|(_, v)| v.iter().flatten());
    let highest = values().fold(0.0_f64, |a, &b| a.max(b));
    let ticks = axis_ticks(highest, values().all(|v| v.fract() == 0.0));
    let max = ticks.last().copied().unwrap_or(1.0);
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
    for &v in &ticks {
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            left + plot_w,
            left - 4.0,
            y(v) + 3.0,
            number(v, lang),
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
                        number(*v, lang)
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

/// The numbers on a value axis from 0 to at least `max`: steps of 1, 2 or 5 times a power of
/// ten, four to ten of them (never 4.75 or 15.62); whole steps only when every value is `whole`.
pub fn axis_ticks(max: f64, whole: bool) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    if whole {
        step = step.max(1.0);
    }
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    // k × step, rounded to the step's own precision (0.1 × 3 is 0.3, not 0.30000000000000004).
    let digits = (-step.log10().floor()).max(0.0) as i32;
    let scale = 10f64.powi(digits);
    (0..=n)
        .map(|k| (k as f64 * step * scale).round() / scale)
        .collect()
}

/// A number with a decimal point, for machine-read files: whole numbers without decimals,
/// otherwise one or two. (People read [`number`].)
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
            Lang::Nl,
        );
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("Den &lt;Haag&gt;"));
        assert_eq!(fmt_num(63.5), "63.5");
        assert_eq!(fmt_num(12.0), "12");
    }

    #[test]
    fn round_axis_ticks() {
        assert_eq!(axis_ticks(19.0, true), [0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(axis_ticks(62.5, false), [0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(
            axis_ticks(100.0, false),
            [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(axis_ticks(3.0, true), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(axis_ticks(0.0, true), [0.0, 1.0]);
        assert_eq!(axis_ticks(0.7, false), [0.0, 0.2, 0.4, 0.6, 0.8]);
        assert_eq!(axis_ticks(1234.0, true), [0.0, 500.0, 1000.0, 1500.0]);
        // Every tick is 1, 2 or 5 times a power of ten apart, for any maximum.
        for i in 1..2000 {
            let max = f64::from(i) * 0.37;
            let ticks = axis_ticks(max, false);
            let step = ticks[1];
            let mantissa = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 5.0].iter().any(|m| (m - mantissa).abs() < 1e-9),
                "{max}: {ticks:?}"
            );
            assert!(
                *ticks.last().unwrap() >= max && ticks.len() <= 11,
                "{max}: {ticks:?}"
            );
        }
    }

    #[test]
    fn chart_numbers_in_dutch() {
        let svg = line_chart(
            "aandeel",
            &["2025-Q1".into()],
            &[("Delft".into(), vec![Some(62.5)])],
            Lang::Nl,
        );
        assert!(svg.contains(">80<") && svg.contains("Delft: 62,5"), "{svg}");
        assert!(!svg.contains("62.5") && !svg.contains("4.75"), "{svg}");
    }
}
