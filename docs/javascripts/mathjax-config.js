// MathJax for pymdownx.arithmatex (generic mode) and the tutorials' notebook cells, served from
// this site (no CDN: math renders offline). Elements with a class are skipped unless the class is
// one of processHtmlClass; elements without a class inherit from their parent (".+" does not
// match an empty class, so the <p> inside a notebook's markdown cell is typeset).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: { ignoreHtmlClass: ".+", processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-MarkdownOutput" },
  svg: { fontCache: "global" }
};
