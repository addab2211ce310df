//! Server-rendered SVG charts for the overview: lines over a time window, bars per source.
//! No script and no framework; every label goes through the template, so a source's name is
//! text in the SVG, never markup.

use maud::{html, Markup};
use time::OffsetDateTime;

use inlet_core::status::SourceRecovery;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;

/// One line: its legend label, its stylesheet class, a value per bucket (`None`: no data).
pub struct Series<'a> {
    pub label: &'a str,
    pub class: &'a str,
    pub values: Vec<Option<f64>>,
    /// What the legend sums the line up as.
    pub legend: Legend,
}

/// Counts add up over the window; a gauge (a queue's depth) is told by its peak.
#[derive(Clone, Copy)]
pub enum Legend {
    Total,
    Peak,
}

impl Series<'_> {
    fn summary(&self) -> String {
        let known = self.values.iter().flatten();
        match self.legend {
            Legend::Total => format!("{} in all", number(known.sum::<f64>() + 0.0)),
            Legend::Peak => format!("peak {}", number(known.fold(0.0, |m: f64, v| m.max(*v)))),
        }
    }
}

/// A line chart of `series` over buckets starting at `start`, `bucket_secs` apart.
pub fn lines(
    id: &str,
    caption: &str,
    start: OffsetDateTime,
    bucket_secs: u64,
    series: &[Series<'_>],
) -> Markup {
    let n = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let top = nice_ceiling(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .fold(0.0, |m: f64, v| m.max(*v)),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| LEFT + plot_w * i as f64 / (n.max(2) - 1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - v / top);
    let end = start + time::Duration::seconds((bucket_secs * n as u64) as i64);
    let label = |t| clock(t, bucket_secs);
    let empty = series.iter().all(|s| s.values.iter().all(Option::is_none));
    html! {
        figure id=(id) {
            figcaption { (caption) }
            @if empty {
                p.empty { "Nothing sampled in this span yet (" code { "inlet dev" } " samples the queue every 10 s)." }
            } @else {
            svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(caption) {
                line.axis x1=(LEFT) y1=(TOP + plot_h) x2=(WIDTH - RIGHT) y2=(TOP + plot_h) {}
                line.axis x1=(LEFT) y1=(TOP) x2=(LEFT) y2=(TOP + plot_h) {}
                text x=(LEFT - 4.0) y=(TOP + 4.0) text-anchor="end" { (number(top)) }
                text x=(LEFT - 4.0) y=(TOP + plot_h) text-anchor="end" { "0" }
                text x=(LEFT) y=(HEIGHT - 6.0) { (label(start)) }
                text x=(WIDTH - RIGHT) y=(HEIGHT - 6.0) text-anchor="end" { (label(end)) " UTC" }
                @for s in series {
                    @for run in runs(&s.values) {
                        polyline class=(s.class) points=(points(&run, x, y)) {
                            title { (s.label) }
                        }
                    }
                }
            }
            p.legend {
                @for s in series {
                    span class=(s.class) { (s.label) ": " (s.summary()) }
                }
            }
            }
        }
    }
}

/// Horizontal bars: each source's recovery rate (what its runs found that the webhooks had
/// missed, per record read).
pub fn recovery_bars(id: &str, caption: &str, sources: &[SourceRecovery]) -> Markup {
    let row_h = 22.0;
    let label_w = 180.0;
    let bar_w = WIDTH - label_w - 90.0;
    let height = row_h * sources.len().max(1) as f64 + 8.0;
    html! {
        figure id=(id) {
            figcaption { (caption) }
            @if sources.is_empty() {
                p.empty { "No reconciliation has read anything in this span." }
            } @else {
                svg.chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(caption) {
                    @for (i, s) in sources.iter().enumerate() {
                        @let y = 4.0 + row_h * i as f64;
                        @let rate = s.rate_percent().unwrap_or(0.0);
                        text x=(label_w - 6.0) y=(y + 15.0) text-anchor="end" { (s.source) }
                        rect.bar x=(label_w) y=(y + 3.0) width=(bar_w * rate / 100.0) height=(row_h - 6.0) {
                            title { (s.recovered) " of " (s.scanned) " recovered" }
                        }
                        text x=(label_w + bar_w * rate / 100.0 + 6.0) y=(y + 15.0) {
                            (format!("{rate:.1} %")) " (" (s.recovered) "/" (s.scanned) ")"
                        }
                    }
                }
            }
        }
    }
}

/// Stretches of consecutive known values, with their bucket index.
fn runs(values: &[Option<f64>]) -> Vec<Vec<(usize, f64)>> {
    let mut out: Vec<Vec<(usize, f64)>> = vec![Vec::new()];
    for (i, v) in values.iter().enumerate() {
        match (v, out.last_mut()) {
            (Some(v), Some(run)) => run.push((i, *v)),
            (None, Some(run)) if !run.is_empty() => out.push(Vec::new()),
            _ => {}
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

fn points(run: &[(usize, f64)], x: impl Fn(usize) -> f64, y: impl Fn(f64) -> f64) -> String {
    // A lone value is drawn as a short flat stroke, so it shows.
    let widen = run.len() == 1;
    run.iter()
        .flat_map(|&(i, v)| {
            let mut p = vec![format!("{:.1},{:.1}", x(i), y(v))];
            if widen {
                p.push(format!("{:.1},{:.1}", x(i) + 3.0, y(v)));
            }
            p
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The axis top: the smallest 1, 2 or 5 × 10ⁿ at or above the largest value (at least 1).
fn nice_ceiling(max: f64) -> f64 {
    if max <= 1.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|c| *c >= max)
        .unwrap_or(10.0 * magnitude)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A bucket boundary: the time of day, and the date too when buckets are hours or longer.
fn clock(t: OffsetDateTime, bucket_secs: u64) -> String {
    if bucket_secs >= 3_600 {
        format!(
            "{:02}-{:02} {:02}:00",
            u8::from(t.month()),
            t.day(),
            t.hour()
        )
    } else {
        format!("{:02}:{:02}", t.hour(), t.minute())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(13.0), 20.0);
        assert_eq!(nice_ceiling(450.0), 500.0);
        assert_eq!(nice_ceiling(1000.0), 1000.0);
    }

    #[test]
    fn gaps_split_a_line() {
        let r = runs(&[Some(1.0), None, Some(2.0), Some(3.0), None]);
        assert_eq!(r, vec![vec![(0, 1.0)], vec![(2, 2.0), (3, 3.0)]]);
        assert!(runs(&[None, None]).is_empty());
    }

    #[test]
    fn a_line_chart_draws_each_series_and_escapes_labels() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let svg = lines(
            "c",
            "caption",
            start,
            60,
            &[Series {
                label: "<b>x</b>",
                class: "s-received",
                values: vec![Some(0.0), Some(4.0), Some(2.0)],
                legend: Legend::Total,
            }],
        )
        .into_string();
        assert!(
            svg.contains("points=\"52.0,158.0 342.0,39.6 632.0,98.8\""),
            "{svg}"
        );
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;: 6 in all"), "{svg}");
        assert!(
            svg.contains(">00:00<") && svg.contains(">00:03 UTC<"),
            "{svg}"
        );
    }

    #[test]
    fn a_gauge_is_told_by_its_peak_and_an_empty_chart_says_so() {
        let start = OffsetDateTime::UNIX_EPOCH;
        let gauge = |values| Series {
            label: "waiting",
            class: "s-depth",
            values,
            legend: Legend::Peak,
        };
        let svg = lines(
            "q",
            "queue",
            start,
            3_600,
            &[gauge(vec![Some(3.0), None, Some(9.0)])],
        )
        .into_string();
        assert!(svg.contains("waiting: peak 9"), "{svg}");
        assert!(svg.contains(">01-01 00:00<"), "{svg}");
        let svg = lines("q", "queue", start, 60, &[gauge(vec![None, None])]).into_string();
        assert!(
            svg.contains("Nothing sampled") && !svg.contains("<svg"),
            "{svg}"
        );
    }
}
