// The login check page at / (server/assets/home.html). A file, not an inline script: the page's
// Content-Security-Policy runs scripts from files of this origin only.
const T = {
  nl: { intro: "Verhalen en cijfers voor Kansrijke Start. Log in om te controleren dat uw account werkt.",
        email: "✉️ E-mailadres", password: "🔑 Wachtwoord", submit: "Inloggen", lang: "English",
        ok: (m, w) => `✅ Ingelogd als ${m.name} (${m.role}) in werkruimte ${w.name}.`,
        bad: "❌ E-mailadres of wachtwoord klopt niet.", many: "⏳ Te veel pogingen. Probeer het later opnieuw.",
        err: "⚠️ De server is niet bereikbaar." },
  en: { intro: "Stories and figures for Kansrijke Start. Log in to check that your account works.",
        email: "✉️ E-mail address", password: "🔑 Password", submit: "Log in", lang: "Nederlands",
        ok: (m, w) => `✅ Logged in as ${m.name} (${m.role}) in workspace ${w.name}.`,
        bad: "❌ E-mail address or password is wrong.", many: "⏳ Too many attempts. Try again later.",
        err: "⚠️ The server cannot be reached." },
};
let lang = "nl";
function render() {
  const t = T[lang];
  document.documentElement.lang = lang;
  document.getElementById("intro").textContent = t.intro;
  document.getElementById("l-email").textContent = t.email;
  document.getElementById("l-password").textContent = t.password;
  document.getElementById("submit").textContent = t.submit;
  document.getElementById("lang").textContent = t.lang;
}
document.getElementById("lang").onclick = () => { lang = lang === "nl" ? "en" : "nl"; render(); };
document.getElementById("login").onsubmit = async (e) => {
  e.preventDefault();
  const out = document.getElementById("result");
  const t = T[lang];
  out.style.display = "block";
  try {
    const r = await fetch("/api/v1/auth/login", { method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: document.getElementById("email").value, password: document.getElementById("password").value }) });
    if (r.ok) { const s = await r.json(); out.className = "ok"; out.textContent = t.ok(s.member, s.workspace); }
    else { out.className = "fout"; out.textContent = r.status === 429 ? t.many : t.bad; }
  } catch { out.className = "fout"; out.textContent = t.err; }
};
