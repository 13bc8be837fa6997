// The built-in taxonomy: the codes, Dutch names and English glosses of the server's default taxonomy
// (fixtures/taxonomy/*.toml, served at GET /api/v1/taxonomy), for the very first start without a
// network, before the app has ever fetched the taxonomy of its workspace. Copied from the fixtures;
// tests/e2e/shell.test.mjs checks it against the server's, so a change there fails the test until
// it is made here too. Plain data: no imports, no browser APIs.

export const FALLBACK = {
  activities: [
    { code: 'prenataal-huisbezoek', name: 'Prenataal huisbezoek (Goede Start Gesprek)', gloss: 'Prenatal home visit' },
    { code: 'voorzorg', name: 'VoorZorg', gloss: 'VoorZorg (nurse home visiting for young first-time mothers)' },
    { code: 'stevig-ouderschap', name: 'Stevig Ouderschap', gloss: 'Stevig Ouderschap (parenting support home visits by youth health care)' },
    { code: 'nu-niet-zwanger', name: 'Nu Niet Zwanger', gloss: 'Nu Niet Zwanger (support to prevent unintended pregnancy)' },
    { code: 'centering', name: 'CenteringPregnancy / CenteringParenting', gloss: 'Centering group care (group prenatal and postnatal care)' },
    { code: 'moeders-informeren-moeders', name: 'Moeders Informeren Moeders', gloss: 'Mothers Inform Mothers (trained volunteer mothers visit new mothers)' },
    { code: 'videohometraining', name: 'Video-hometraining (VHT)', gloss: 'Video home training (video interaction guidance)' },
    { code: 'preconceptieconsult', name: 'Preconceptieconsult (gezond zwanger worden)', gloss: 'Preconception consultation (planning a healthy pregnancy)' },
    { code: 'rookvrije-start', name: 'Rookvrije Start (stoppen met roken)', gloss: 'Smoke-free start (quitting smoking around pregnancy)' },
    { code: 'armoede-schulden', name: 'Armoede, schulden en bestaanszekerheid', gloss: 'Poverty, debt and financial security' },
    { code: 'sleutelpersonen-voorlichting', name: 'Sleutelpersonen en voorlichting in eigen taal en cultuur', gloss: "Key persons and health education in the community's own language and culture" },
    { code: 'ouderinitiatief', name: 'Ouderinitiatief (babycafé, moedergroep, ouderkamer)', gloss: "Parent-led initiative (baby café, mothers' group, parents' room)" },
    { code: 'vadergroep', name: 'Vadergroep', gloss: "Fathers' group" },
    { code: 'taal-laaggeletterdheid', name: 'Taal en laaggeletterdheid', gloss: 'Language barriers and low literacy' },
    { code: 'huiselijk-geweld', name: 'Huiselijk geweld en veiligheid', gloss: 'Domestic violence and safety' },
    { code: 'mdo-knooppunt', name: 'Multidisciplinair overleg, lokaal knooppunt, zorgpad', gloss: 'Multidisciplinary case meeting, local hub and care pathway' },
  ],
  phases: [
    { code: 'preconceptie', name: 'Vóór de zwangerschap', gloss: 'Before pregnancy (preconception)' },
    { code: 'zwangerschap', name: 'Tijdens de zwangerschap', gloss: 'During pregnancy' },
    { code: 'na-geboorte', name: 'Na de geboorte', gloss: 'After birth (up to the second birthday)' },
  ],
  target_groups: [
    { code: 'jonge-ouders', name: 'Jonge ouders en tienerouders', gloss: 'Young and teenage parents' },
    { code: 'nieuwkomers', name: 'Statushouders, vluchtelingen en nieuwkomers', gloss: 'Refugees, status holders and newcomers' },
    { code: 'arbeidsmigranten', name: 'Arbeidsmigranten', gloss: 'Labour migrants' },
    { code: 'anderstaligen-laaggeletterden', name: 'Anderstaligen en laaggeletterden', gloss: 'Speakers of other languages, people with low literacy' },
    { code: 'ouders-in-armoede', name: 'Ouders in armoede of met schulden', gloss: 'Parents in poverty or debt' },
    { code: 'vaders', name: '(Aanstaande) vaders', gloss: '(Expectant) fathers' },
    { code: 'ouders-lvb', name: 'Ouders met een licht verstandelijke beperking', gloss: 'Parents with a mild intellectual disability' },
    { code: 'ouders-psychische-kwetsbaarheid', name: 'Ouders met psychische kwetsbaarheid of verslaving', gloss: 'Parents with mental health problems or addiction' },
    { code: 'alleenstaande-ouders', name: 'Alleenstaande ouders en ouders zonder netwerk', gloss: 'Single parents and parents without a network' },
  ],
  themes: [
    { code: 'geld-bestaanszekerheid', name: 'Geld en bestaanszekerheid', gloss: 'Money and financial security' },
    { code: 'wonen', name: 'Wonen', gloss: 'Housing' },
    { code: 'roken-middelen', name: 'Roken, alcohol en drugs', gloss: 'Smoking, alcohol and drugs' },
    { code: 'mentale-gezondheid', name: 'Mentale gezondheid en stress', gloss: 'Mental health and stress' },
    { code: 'hechting-opvoeding', name: 'Hechting en opvoeding', gloss: 'Attachment and parenting' },
    { code: 'gezondheid-leefstijl', name: 'Gezondheid, voeding en leefstijl', gloss: 'Health, nutrition and lifestyle' },
    { code: 'veiligheid', name: 'Veiligheid thuis', gloss: 'Safety at home' },
    { code: 'taal-informatie', name: 'Taal en informatie', gloss: 'Language and information' },
    { code: 'netwerk-steun', name: 'Netwerk en sociale steun', gloss: 'Social network and support' },
    { code: 'samenwerking-zorg', name: 'Samenwerking en toegang tot zorg', gloss: 'Collaboration and access to care' },
  ],
};
