// MathJax for pymdownx.arithmatex (generic mode) and the tutorials' notebook cells, served from
// this site (no CDN: math renders offline).
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex|jp-RenderedMarkdown|jp-MarkdownOutput" },
  svg: { fontCache: "global" }
};
