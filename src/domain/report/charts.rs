//! A report as PNG charts, drawn in memory: nothing touches the disk or the
//! system's fonts. The font is embedded so a chart renders the same on every
//! machine, including CI images that have no fonts at all.
//!
//! Any `Report` renders: where there is nothing to plot, the chart says
//! "no data" instead of failing, so a quiet team still gets its three images.

use super::{Interruptions, Report};
use plotters::coord::ranged1d::{SegmentValue, SegmentedCoord};
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 450;

/// DejaVu Sans (Bitstream Vera licence, see assets/fonts/DejaVuSans-LICENSE).
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
/// plotters' default text style asks for this family.
const FAMILY: &str = "sans-serif";

/// Axis arithmetic stays finite up to this (about 1.9 million years in
/// minutes); anything beyond is drawn at the limit.
const LIMIT: f64 = 1e12;

/// Roughly the plot's width once the axis labels are drawn.
const PLOT_WIDTH: usize = 700;

const BUSINESS: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const OFF: RGBColor = RGBColor(0xff, 0x7f, 0x0e);
const SLEEP: RGBColor = RGBColor(0x5b, 0x2a, 0x86);
const MTTA: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const MTTR: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const HOURS: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

pub struct Chart {
    pub file_name: String,
    pub title: String,
    pub png: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the embedded chart font could not be loaded")]
    Font,
    #[error("drawing a chart failed: {0}")]
    Draw(String),
    #[error("encoding a chart as PNG failed: {0}")]
    Encode(#[from] png::EncodingError),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Draw(e.to_string())
    }
}

/// The report's three charts: MTTA/MTTR by week, interruptions and on-call
/// hours by responder.
pub fn render_all(r: &Report) -> Result<Vec<Chart>, ChartError> {
    register_font()?;
    Ok(vec![weekly(r)?, interruptions(r)?, on_call_hours(r)?])
}

/// plotters keeps fonts in a process-wide table; registering once is enough.
fn register_font() -> Result<(), ChartError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws into an RGB buffer and encodes it as PNG.
fn render(
    file_name: &str,
    title: &str,
    draw: impl FnOnce(&Area<'_>, &str) -> Result<(), ChartError>,
) -> Result<Chart, ChartError> {
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root, title)?;
        root.present()?;
    }
    Ok(Chart {
        file_name: file_name.to_string(),
        title: title.to_string(),
        png: encode(&rgb)?,
    })
}

fn encode(rgb: &[u8]) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::with_capacity(32 * 1024);
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

fn no_data(root: &Area<'_>, title: &str) -> Result<(), ChartError> {
    // Placed like a plotted chart's caption.
    let area = root.margin(12, 12, 12, 12).titled(title, (FAMILY, 24))?;
    let (w, h) = area.dim_in_pixel();
    let style = TextStyle::from((FAMILY, 28).into_font())
        .color(&RGBColor(0x66, 0x66, 0x66))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text("no data", &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

fn weekly(r: &Report) -> Result<Chart, ChartError> {
    let minutes = |s: Option<f64>| s.filter(|v| v.is_finite()).map(|v| clamp(v / 60.0));
    let mtta: Vec<Option<f64>> = r.weekly.iter().map(|w| minutes(w.mtta.mean)).collect();
    let mttr: Vec<Option<f64>> = r.weekly.iter().map(|w| minutes(w.mttr.mean)).collect();
    let labels: Vec<String> = r
        .weekly
        .iter()
        .map(|w| w.start.format("%d %b").to_string())
        .collect();
    render(
        "mtta-mttr-weekly.png",
        "MTTA and MTTR per week (mean)",
        |root, title| {
            let values = mtta.iter().chain(&mttr).flatten().copied();
            let Some((lo, hi)) = y_range(values) else {
                return no_data(root, title);
            };
            let n = labels.len() as i32;
            let mut chart = ChartBuilder::on(root)
                .caption(title, (FAMILY, 24))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d((0..n - 1).into_segmented(), lo..hi)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(labels.len().min(14))
                .x_label_formatter(&|v| segment_label(&labels, v))
                .y_label_formatter(&|v| tick(*v))
                .x_desc("week starting")
                .y_desc("minutes")
                .label_style((FAMILY, 13))
                .axis_desc_style((FAMILY, 15))
                .draw()?;
            for (name, series, colour) in [("MTTA", &mtta, MTTA), ("MTTR", &mttr, MTTR)] {
                let line = colour.stroke_width(2);
                chart
                    .draw_series(runs(series).map(|run| PathElement::new(run, line)))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], line));
                let points = series.iter().enumerate().filter_map(|(i, v)| {
                    v.map(|v| {
                        Circle::new((SegmentValue::CenterOf(i as i32), v), 3, colour.filled())
                    })
                });
                chart.draw_series(points)?;
            }
            legend(&mut chart)
        },
    )
}

fn interruptions(r: &Report) -> Result<Chart, ChartError> {
    render(
        "interruptions.png",
        "Interruptions per responder",
        |root, title| {
            let totals = r.responders.iter().map(|p| {
                let i = &p.interruptions;
                f64::from(i.business) + f64::from(i.off) + f64::from(i.sleep)
            });
            let Some((_, hi)) = y_range(totals.filter(|t| *t > 0.0)) else {
                return no_data(root, title);
            };
            let names = names(r);
            let mut chart = bar_chart(root, title, &names, hi, "interruptions")?;
            type Count = fn(&Interruptions) -> u32;
            let kinds: [(&str, RGBColor, Count); 3] = [
                ("business hours", BUSINESS, |i| i.business),
                ("off hours", OFF, |i| i.off),
                ("sleep hours", SLEEP, |i| i.sleep),
            ];
            let n = r.responders.len();
            let mut base = vec![0.0; n];
            for (label, colour, count) in kinds {
                let bars: Vec<_> = r
                    .responders
                    .iter()
                    .zip(base.iter_mut())
                    .enumerate()
                    .map(|(i, (p, b))| {
                        let top = *b + f64::from(count(&p.interruptions));
                        let bar = bar(i, n, *b, top, colour);
                        *b = top;
                        bar
                    })
                    .collect();
                chart.draw_series(bars)?.label(label).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled())
                });
            }
            legend(&mut chart)
        },
    )
}

fn on_call_hours(r: &Report) -> Result<Chart, ChartError> {
    render(
        "on-call-hours.png",
        "On-call hours per responder",
        |root, title| {
            let hours: Vec<f64> = r
                .responders
                .iter()
                .map(|p| clamp(p.on_call_hours).max(0.0))
                .collect();
            let Some((_, hi)) = y_range(hours.iter().copied().filter(|h| *h > 0.0)) else {
                return no_data(root, title);
            };
            let names = names(r);
            let mut chart = bar_chart(root, title, &names, hi, "hours")?;
            chart.draw_series(
                hours
                    .iter()
                    .enumerate()
                    .map(|(i, h)| bar(i, hours.len(), 0.0, *h, HOURS)),
            )?;
            Ok(())
        },
    )
}

type Cartesian<'a> = ChartContext<
    'a,
    BitMapBackend<'a>,
    Cartesian2d<SegmentedCoord<RangedCoordi32>, RangedCoordf64>,
>;

fn bar_chart<'a>(
    root: &Area<'a>,
    title: &str,
    names: &[String],
    hi: f64,
    y_desc: &str,
) -> Result<Cartesian<'a>, ChartError> {
    let n = names.len() as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 24))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..hi)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(names.len())
        .x_label_formatter(&|v| segment_label(names, v))
        .y_label_formatter(&|v| tick(*v))
        .x_desc("responder")
        .y_desc(y_desc)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 15))
        .draw()?;
    Ok(chart)
}

/// Bar `i` of `n`, with a gap to its neighbours of a sixth of its slot.
fn bar(
    i: usize,
    n: usize,
    from: f64,
    to: f64,
    colour: RGBColor,
) -> Rectangle<(SegmentValue<i32>, f64)> {
    let gap = (PLOT_WIDTH / n.max(1) / 6) as u32;
    let i = i as i32;
    let mut r = Rectangle::new(
        [
            (SegmentValue::Exact(i), from),
            (SegmentValue::Exact(i + 1), to),
        ],
        colour.filled(),
    );
    r.set_margin(0, 0, gap, gap);
    r
}

fn legend(chart: &mut Cartesian<'_>) -> Result<(), ChartError> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font((FAMILY, 13))
        .draw()?;
    Ok(())
}

/// Names cut to what fits under one bar, so many responders don't overlap.
fn names(r: &Report) -> Vec<String> {
    let per_bar = PLOT_WIDTH / r.responders.len().max(1);
    // About 8 pixels per character at the label size.
    let fits = (per_bar / 8).max(3);
    r.responders
        .iter()
        .map(|p| {
            let name = if p.name.trim().is_empty() {
                &p.user
            } else {
                &p.name
            };
            if name.chars().count() <= fits {
                name.clone()
            } else {
                let mut s: String = name.chars().take(fits.saturating_sub(1).max(1)).collect();
                s.push('…');
                s
            }
        })
        .collect()
}

fn segment_label(labels: &[String], v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| labels.get(i))
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// A y range from zero (or below, for negative values) with headroom above
/// the largest value; `None` when there is nothing to plot.
fn y_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })?;
    let lo = lo.min(0.0);
    // All zeros still need a non-empty axis.
    // The headroom keeps the top values clear of the legend.
    let hi = if hi > 0.0 { hi * 1.2 } else { 1.0 };
    Some((lo * 1.1, hi))
}

fn clamp(v: f64) -> f64 {
    v.clamp(-LIMIT, LIMIT)
}

/// Axis numbers short enough for the label area at any magnitude.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{v:.1e}")
    } else if a >= 10.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Contiguous runs of present values, as points: a week without a mean
/// breaks the line rather than being drawn as zero.
fn runs(series: &[Option<f64>]) -> impl Iterator<Item = Vec<(SegmentValue<i32>, f64)>> + '_ {
    series
        .split(|v| v.is_none())
        .scan(0usize, |start, run| {
            let from = *start;
            *start += run.len() + 1;
            Some((from, run))
        })
        .filter(|(_, run)| !run.is_empty())
        .map(|(from, run)| {
            run.iter()
                .enumerate()
                .filter_map(|(k, v)| v.map(|v| (SegmentValue::CenterOf((from + k) as i32), v)))
                .collect()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{Fairness, Responder, Stats, Week};
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap()
    }

    fn mean(secs: Option<f64>) -> Stats {
        Stats {
            count: usize::from(secs.is_some()),
            mean: secs,
            p50: secs,
            p90: secs,
        }
    }

    fn week(start: DateTime<Utc>, mtta: Option<f64>, mttr: Option<f64>) -> Week {
        Week {
            start,
            incidents: 1,
            mtta: mean(mtta),
            mttr: mean(mttr),
        }
    }

    fn person(user: &str, name: &str, b: u32, o: u32, s: u32, hours: f64) -> Responder {
        Responder {
            user: user.into(),
            name: name.into(),
            interruptions: Interruptions {
                business: b,
                off: o,
                sleep: s,
            },
            on_call_hours: hours,
        }
    }

    fn report(weekly: Vec<Week>, responders: Vec<Responder>) -> Report {
        Report {
            team: "t".into(),
            from: day(2),
            to: day(30),
            incidents: 0,
            by_severity: Default::default(),
            mtta: Stats::default(),
            mttr: Stats::default(),
            ack_on_target: None,
            escalation_rate: None,
            alerts_received: 0,
            alerts_grouped: 0,
            alerts_suppressed: 0,
            noise_ratio: None,
            responders,
            fairness: Fairness::default(),
            by_service: vec![],
            weekly,
        }
    }

    fn busy() -> Report {
        report(
            vec![
                week(day(2), Some(120.0), Some(1800.0)),
                week(day(9), Some(300.0), Some(3600.0)),
                week(day(16), None, None),
                week(day(23), Some(60.0), Some(900.0)),
            ],
            vec![
                person("ana", "Ana", 3, 1, 2, 72.0),
                person("ben", "Ben", 0, 4, 1, 96.0),
                person("cho", "Cho", 1, 0, 0, 0.0),
            ],
        )
    }

    fn empty() -> Report {
        report(vec![], vec![])
    }

    /// The PNG's dimensions and RGB pixels.
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "no PNG signature");
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn files(charts: &[Chart]) -> Vec<&str> {
        charts.iter().map(|c| c.file_name.as_str()).collect()
    }

    #[test]
    fn renders_three_pngs_of_the_stated_size() {
        let charts = render_all(&busy()).unwrap();
        assert_eq!(
            files(&charts),
            [
                "mtta-mttr-weekly.png",
                "interruptions.png",
                "on-call-hours.png"
            ]
        );
        for c in &charts {
            let (w, h, pixels) = decode(&c.png);
            assert_eq!((w, h), (WIDTH, HEIGHT), "{}", c.file_name);
            assert_eq!(pixels.len(), (WIDTH * HEIGHT * 3) as usize);
            assert!(!c.title.is_empty());
        }
    }

    #[test]
    fn charts_with_data_differ_from_the_no_data_ones() {
        let busy = render_all(&busy()).unwrap();
        let empty = render_all(&empty()).unwrap();
        assert_eq!(files(&busy), files(&empty));
        for (b, e) in busy.iter().zip(&empty) {
            assert!(decode(&b.png).2 != decode(&e.png).2, "{}", b.file_name);
        }
    }

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        // A no-data chart is white apart from its title and "no data": with
        // no font there would be nothing else on it.
        let empty = render_all(&empty()).unwrap();
        let (_, _, pixels) = decode(&empty[0].png);
        let inked = pixels
            .chunks(3)
            .filter(|p| p.iter().any(|c| *c < 128))
            .count();
        assert!(inked > 500, "only {inked} dark pixels");
    }

    #[test]
    fn nothing_to_plot_renders_no_data_charts() {
        let none = render_all(&empty()).unwrap();
        // No means, zero counts and zero hours look the same as no rows:
        // each chart is its title and "no data" only.
        let quiet = report(
            vec![week(day(2), None, None), week(day(9), None, None)],
            vec![
                person("ana", "Ana", 0, 0, 0, 0.0),
                person("ben", "", 0, 0, 0, 0.0),
            ],
        );
        let quiet = render_all(&quiet).unwrap();
        assert_eq!(quiet.len(), none.len());
        for (q, n) in quiet.iter().zip(&none) {
            assert!(decode(&q.png).2 == decode(&n.png).2, "{}", q.file_name);
        }
    }

    #[test]
    fn extreme_values_never_panic() {
        let big = f64::MAX;
        let weeks = |v: Option<f64>| {
            (0..60)
                .map(|i| week(day(1) + Duration::weeks(i), v, v.map(|v| v * 2.0)))
                .collect::<Vec<_>>()
        };
        let cases = [
            // Instant acks and resolves: zero minutes is data, not "no data".
            report(weeks(Some(0.0)), vec![person("a", "A", 0, 0, 1, 1.0)]),
            report(weeks(Some(1e-9)), vec![person("a", "A", 1, 0, 0, 1e-9)]),
            report(
                weeks(Some(big)),
                vec![
                    person("a", "A", u32::MAX, u32::MAX, u32::MAX, big),
                    person("b", &"very long name ".repeat(40), 1, 0, 0, 1e300),
                ],
            ),
            report(
                vec![
                    week(day(2), Some(-5.0), None),
                    week(day(9), Some(f64::INFINITY), Some(f64::NEG_INFINITY)),
                    week(day(16), None, Some(7.0)),
                ],
                vec![
                    person("a", "", 0, 0, 0, -3.0),
                    person("b", "B", 0, 0, 0, f64::INFINITY),
                ],
            ),
            report(
                weeks(None),
                (0..200)
                    .map(|i| {
                        person(
                            &format!("u{i}"),
                            "名前 ✓ \u{0}\t",
                            i,
                            2 * i,
                            3 * i,
                            f64::from(i),
                        )
                    })
                    .collect(),
            ),
        ];
        let blank = render_all(&empty()).unwrap();
        for (n, r) in cases.iter().enumerate() {
            let charts = render_all(r).unwrap_or_else(|e| panic!("case {n}: {e}"));
            for (c, b) in charts.iter().zip(&blank) {
                let (w, h, pixels) = decode(&c.png);
                assert_eq!((w, h), (WIDTH, HEIGHT), "case {n} {}", c.file_name);
                let no_data = decode(&b.png).2 == pixels;
                // Only case 3's interruptions (all zero) and case 4's weeks
                // (no means) have nothing to plot.
                let expected = matches!(
                    (n, c.file_name.as_str()),
                    (3, "interruptions.png") | (4, "mtta-mttr-weekly.png")
                );
                assert!(
                    no_data == expected,
                    "case {n} {}: no data {no_data}",
                    c.file_name
                );
            }
        }
    }

    #[test]
    fn long_names_are_cut_to_fit() {
        let r = report(
            vec![],
            (0..20)
                .map(|i| {
                    person(
                        &format!("u{i}"),
                        "Bartholomew Featherstonehaugh",
                        1,
                        0,
                        0,
                        1.0,
                    )
                })
                .collect(),
        );
        let cut = names(&r);
        assert!(cut.iter().all(|n| n.chars().count() <= 5), "{cut:?}");
        assert!(cut[0].ends_with('…'));
        assert_eq!(names(&busy()), ["Ana", "Ben", "Cho"]);
    }

    #[test]
    fn weeks_without_a_mean_break_the_line() {
        let got: Vec<Vec<i32>> = runs(&[Some(1.0), Some(2.0), None, None, Some(3.0), None])
            .map(|run| {
                run.iter()
                    .map(|(x, _)| match x {
                        SegmentValue::CenterOf(i) => *i,
                        _ => -1,
                    })
                    .collect()
            })
            .collect();
        assert_eq!(got, [vec![0, 1], vec![4]]);
    }
}
