use super::*;
use crate::db::workspace::Unit;

fn known() -> Known {
    Known {
        activities: ActivityNames::codes(["centering".to_string()]),
        municipalities: ["Delft".to_string(), "Westland".to_string()].into(),
    }
}

/// The workspace's real activities, with their names.
fn default_known() -> Known {
    let t = crate::tagging::default_taxonomy().expect("taxonomy");
    Known {
        activities: ActivityNames::new(&t.activities),
        municipalities: ["Delft".to_string(), "Westland".to_string()].into(),
    }
}

#[test]
fn good_file_with_shares_and_semicolons() {
    let text = "activiteit;gemeente;periode;indicator;waarde;eenheid;bron\n\
                centering;Delft;2025-Q3;deelnemers;31;aantal;GGD\n\
                centering;Westland;2025-q3;in-zorg-voor-week-10;63,5;procent;\n";
    let f = parse_figures(text, &known(), Lang::En).expect("valid");
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].unit, Unit::Percent);
    assert_eq!(f[1].stored(), 6350);
    assert_eq!(f[1].quarter, "2025-Q3");
}

#[test]
fn every_bad_row_with_its_line() {
    let text = "activity,municipality,quarter,metric,value\n\
                centering,Delft,2025-Q3,deelnemers,31\n\
                onbekend,Delft,2025-Q3,deelnemers,3\n\
                \"centering\",\"Westland\",\"2025-Q9\",deelnemers,-2\n\
                centering,Delft,2025-Q3,deelnemers,32\n";
    let errs = parse_figures(text, &known(), Lang::En).expect_err("invalid");
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    assert!(errs[0].message.contains("unknown activity"));
    assert!(errs[1].message.contains("2025-Q9"));
    assert!(errs[1].message.contains("whole number"));
    assert!(errs[2].message.contains("line 2"));
}

/// What Dutch Excel saves: a byte-order mark, `;`, CRLF, activity names in any case and
/// spacing, quarters as people write them, a municipality in lower case, empty rows.
#[test]
fn an_excel_file_with_names_and_quarters_as_written() {
    let text = "\u{feff}Activiteit;Gemeente;Periode;Indicator;Waarde;Eenheid;Bron\r\n\
                VoorZorg;Delft;2026 Q1;trajecten-lopend;14;aantal;GGD\r\n\
                CenteringPregnancy;westland;Q1 2026;deelnemers;31;aantal;\r\n\
                centering pregnancy;Delft;2026-1;in-zorg-voor-week-10;62,5;procent;\r\n\
                Goede Start Gesprek;Delft;2026q2;gezinnen-bereikt;40;;\r\n\
                ;;;;;;\r\n";
    let f = parse_figures(text, &default_known(), Lang::Nl).expect("valid");
    let got: Vec<(&str, &str, &str, f64)> = f
        .iter()
        .map(|f| {
            (
                f.activity_code.as_str(),
                f.municipality.as_str(),
                f.quarter.as_str(),
                f.value,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("voorzorg", "Delft", "2026-Q1", 14.0),
            ("centering", "Westland", "2026-Q1", 31.0),
            ("centering", "Delft", "2026-Q1", 62.5),
            ("prenataal-huisbezoek", "Delft", "2026-Q2", 40.0),
        ]
    );
    // Excel's "sep=;" line before the header.
    let hinted =
        "sep=;\nactiviteit;gemeente;periode;indicator;waarde\nVoorZorg;Delft;2026 Q1;x1;3\n";
    let errs = parse_figures(hinted, &default_known(), Lang::Nl).expect("valid");
    assert_eq!(errs[0].metric, "x1");
}

#[test]
fn errors_in_the_screens_language() {
    let text = "activiteit;gemeente;periode;indicator;waarde\n\
                Atlantis-zorg;Atlantis;2026 Q5;deelnemers;veel\n";
    let nl = parse_figures(text, &default_known(), Lang::Nl).expect_err("invalid");
    assert_eq!(nl[0].line, 2);
    assert!(
        nl[0]
            .message
            .contains("onbekende activiteit \"Atlantis-zorg\""),
        "{nl:?}"
    );
    assert!(
        nl[0].message.contains("onbekende gemeente \"Atlantis\""),
        "{nl:?}"
    );
    assert!(
        nl[0]
            .message
            .contains("periode \"2026 Q5\" is geen kwartaal"),
        "{nl:?}"
    );
    assert!(
        nl[0].message.contains("waarde \"veel\" is geen getal"),
        "{nl:?}"
    );
    let en = parse_figures(text, &default_known(), Lang::En).expect_err("invalid");
    assert!(en[0].message.contains("unknown municipality"), "{en:?}");
    let header = parse_figures("wat;waarde\n", &default_known(), Lang::Nl).expect_err("bad");
    assert_eq!(
        header
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()[1..],
        [
            "kolom activiteit ontbreekt",
            "kolom gemeente ontbreekt",
            "kolom periode ontbreekt",
            "kolom indicator ontbreekt"
        ]
    );
}

#[test]
fn quarters_as_spreadsheets_write_them() {
    for written in [
        "2026-Q1",
        "2026 Q1",
        "Q1 2026",
        "2026-1",
        "2026Q1",
        "q1-2026",
        " 2026 q1 ",
        "2026/1",
        "K1 2026",
        "2026-01",
    ] {
        assert_eq!(
            normalise_quarter(written).as_deref(),
            Some("2026-Q1"),
            "{written}"
        );
    }
    assert_eq!(normalise_quarter("Q4 2025").as_deref(), Some("2025-Q4"));
    for bad in [
        "2026-Q5",
        "2026-0",
        "26-Q1",
        "2026",
        "Q1",
        "2026-Q1-2",
        "1-2026",
        "2026 Q1x",
        "2026:Q1",
        "",
        "2026-13",
    ] {
        assert_eq!(normalise_quarter(bad), None, "{bad}");
    }
}

#[test]
fn activity_names_fold_case_spacing_and_accents() {
    let names = default_known().activities;
    for (written, code) in [
        ("VoorZorg", "voorzorg"),
        ("voorzorg", "voorzorg"),
        ("VOORZORG", "voorzorg"),
        ("CenteringPregnancy", "centering"),
        ("Centering Parenting", "centering"),
        ("centering pregnancy", "centering"),
        ("CenteringPregnancy / CenteringParenting", "centering"),
        ("Prenataal huisbezoek", "prenataal-huisbezoek"),
        ("Video-hometraining (VHT)", "videohometraining"),
        ("VHT", "videohometraining"),
        ("Babycafé", "ouderinitiatief"),
        ("stevig-ouderschap", "stevig-ouderschap"),
    ] {
        assert_eq!(names.resolve(written).as_deref(), Ok(code), "{written}");
    }
    assert!(matches!(
        names.resolve("Kansrijke Start"),
        Err(Problem::UnknownActivity(_))
    ));
}

/// The form's figure is checked like a line of a file, and stored as typed: a source that
/// looks like a formula is made safe when exported, not changed when saved.
#[test]
fn one_figure_from_the_form() {
    let form = |value: &'static str, unit: &'static str, source: &'static str| FigureFields {
        activity: "centering",
        municipality: " Delft ",
        quarter: "2025-q3",
        metric: "deelnemers",
        value,
        unit,
        source,
    };
    let f = check_figure(&form("33", "count", "=SUM(A1)"), &known(), Lang::En).expect("valid");
    assert_eq!(
        (f.municipality.as_str(), f.quarter.as_str(), f.value, f.unit),
        ("Delft", "2025-Q3", 33.0, Unit::Count)
    );
    assert_eq!(f.source.as_deref(), Some("=SUM(A1)"));
    assert_eq!(
        check_figure(&form("-5", "count", ""), &known(), Lang::En).expect_err("negative"),
        ["a count must be a whole number from 0: \"-5\""]
    );
    let problems =
        check_figure(&form("101", "percent", ""), &known(), Lang::Nl).expect_err("over 100");
    assert_eq!(problems, ["een percentage ligt tussen 0 en 100: \"101\""]);
}

#[test]
fn the_template_imports() {
    let t = crate::tagging::default_taxonomy().expect("taxonomy");
    let activities: Vec<(String, String)> = t
        .activities
        .iter()
        .map(|a| (a.code.clone(), a.name.clone()))
        .collect();
    for lang in [Lang::Nl, Lang::En] {
        let file = template(lang, &activities, &["Delft".to_string()]);
        assert!(file.starts_with('\u{feff}'));
        let f = parse_figures(&file, &default_known(), lang).expect("the template imports");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].value, 63.5);
    }
}

#[test]
fn quoted_line_breaks_count_lines() {
    let r = records("a,b\n\"x\ny\",z\nc,d\n", ',', Lang::Nl).expect("ok");
    assert_eq!(r.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![1, 2, 4]);
    assert_eq!(r[1].1[0], "x\ny");
}
