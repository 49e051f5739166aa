// lab3: search excerpts that show text. Sphinx looks for the *stemmed* search words in a page ("pruning" ->
// "prune"), so a page that says only "pruning" got an excerpt of its toolbar ("....ipynb"). This adds the
// words as typed, matches word prefixes, and leaves the toolbar, the print-only contents and the footer out.
// Math is read as text ("\(q-\Delta\)" becomes "q-Δ"): the excerpt comes from the HTML before MathJax runs.
(function () {
  if (typeof Search === "undefined") return;
  const SYMBOLS = {Delta: "Δ", delta: "δ", alpha: "α", beta: "β", sigma: "σ", mu: "μ", lambda: "λ", pi: "π",
                   cdot: "·", times: "×", leq: "≤", geq: "≥", le: "≤", ge: "≥", pm: "±", approx: "≈",
                   ldots: "…", dots: "…", infty: "∞", to: "→"};
  const plain = (tex) => tex.replace(/^\s*\\[([]|\\[)\]]\s*$/g, "")
    .replace(/\\frac\{([^}]*)\}\{([^}]*)\}/g, "$1/$2")
    .replace(/\\(mathrm|text|mathbf|operatorname)\{([^}]*)\}/g, "$2")
    .replace(/\\([A-Za-z]+)/g, (m, word) => SYMBOLS[word] || "")
    .replace(/[{}]/g, "").replace(/\s+/g, " ").trim();
  const typed = (new URLSearchParams(window.location.search).get("q") || "")
    .toLowerCase().split(/\s+/).filter((w) => w.length > 1);
  const toText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".bd-header-article, .header-article, .prev-next-area, .bd-sidebar-secondary, " +
                         "#jb-print-docs-body, .onlyprint, footer, .bd-footer-content")
      .forEach((el) => el.remove());
    doc.querySelectorAll(".math").forEach((el) => { el.textContent = plain(el.textContent); });
    return toText(doc.documentElement.outerHTML, anchor).replace(/\s+/g, " ");
  };
  const summarize = Search.makeSearchSummary;
  Search.makeSearchSummary = (htmlText, keywords, anchor) => {
    const words = new Set([...keywords, ...typed]);
    // a stem also matches as a prefix of its words: "prun" finds "pruning"
    [...keywords].forEach((k) => { if (k.length > 3) words.add(k.replace(/e$/, "")); });
    const summary = summarize(htmlText, words, anchor);
    if (summary && summary.textContent.startsWith("...") && !summary.textContent.slice(3, 80).trim()) return null;
    return summary;
  };
})();
