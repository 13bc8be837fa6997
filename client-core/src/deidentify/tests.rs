use super::*;

fn masked(text: &str) -> String {
    let d = Deidentifier::new();
    mask(text, &d.find(text))
}

#[test]
fn numbers_in_dutch_notations() {
    assert_eq!(
        masked("Bel 06-12345678 of +31 6 1234 5678."),
        "Bel [telefoon] of [telefoon]."
    );
    assert_eq!(
        masked("Vast: 010-1234567, (070) 123 45 67."),
        "Vast: [telefoon], [telefoon]."
    );
    assert_eq!(
        masked("Het nummer is nul zes een twee drie vier vijf zes zeven acht."),
        "Het nummer is [telefoon]."
    );
}

#[test]
fn bsn_only_when_it_passes_the_elfproef() {
    assert!(numbers::elfproef("111222333"));
    assert!(!numbers::elfproef("111222334"));
    assert_eq!(
        masked("BSN 111222333 en 111222334."),
        "BSN [bsn] en 111222334."
    );
    assert_eq!(masked("BSN 1112.22.333"), "BSN [bsn]");
}

#[test]
fn postcodes_emails_dates() {
    assert_eq!(
        masked("Naar 2611 AB of 2611ab, mail a.b@c.nl op 3 mei 2024 of 03-05-2024."),
        "Naar [postcode] of [postcode], mail [e-mail] op [datum] of [datum]."
    );
    assert_eq!(
        masked("Om 14.30 uur, 30 weken zwanger, € 845."),
        "Om 14.30 uur, 30 weken zwanger, € 845."
    );
}

#[test]
fn names_streets_and_places() {
    assert_eq!(
        masked(
            "Fatima vertelde dat haar buurvrouw Anja de Vries van de Molenstraat 12 haar naar het consultatiebureau in Naaldwijk bracht."
        ),
        "[naam] vertelde dat haar buurvrouw [naam] van de [adres] haar naar het consultatiebureau in [plaats] bracht."
    );
}

#[test]
fn kept_words_stay() {
    let d = Deidentifier::new().keep(["Naaldwijk"]);
    let t = "Ze woont in Naaldwijk.";
    assert_eq!(mask(t, &d.find(t)), t);
    let d = Deidentifier::new();
    assert_eq!(mask(t, &d.find_keeping(t, &["naaldwijk"])), t);
}

#[test]
fn evaluation_format() {
    let set = eval::parse("# c\nBel [[telefoon:06-12345678]] of [[naam:Anja]].\n").unwrap();
    assert_eq!(set.len(), 1);
    assert_eq!(
        &set[0].text[set[0].gold[0].0..set[0].gold[0].1],
        "06-12345678"
    );
    let r = eval::evaluate(&Deidentifier::new(), &set);
    assert_eq!(r.total.gold, 2);
    assert!(eval::parse("[[foo:x]]").is_err());
}
