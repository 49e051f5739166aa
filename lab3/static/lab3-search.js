// lab3: search excerpts that show text. Sphinx looks for the *stemmed* search words in a page ("pruning" ->
// "prune"), so a page that says only "pruning" got an excerpt of its toolbar ("....ipynb"). This adds the
// words as typed, matches word prefixes, and leaves the toolbar, the print-only contents and the footer out.
(function () {
  if (typeof Search === "undefined") return;
  const typed = (new URLSearchParams(window.location.search).get("q") || "")
    .toLowerCase().split(/\s+/).filter((w) => w.length > 1);
  const toText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".bd-header-article, .header-article, .prev-next-area, .bd-sidebar-secondary, " +
                         "#jb-print-docs-body, .onlyprint, footer, .bd-footer-content")
      .forEach((el) => el.remove());
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
