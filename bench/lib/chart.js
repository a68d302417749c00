'use strict';
// Renders a vega-lite spec to an SVG string in Node, headless: vega-lite
// compiles it to a vega spec, and a vega View with no renderer draws it to SVG
// text (no browser, no canvas: text widths are estimated).

/**
 * @param {object} vegaLiteSpec a vega-lite specification with inline data
 * @returns {Promise<string>} the SVG document
 */
async function renderSvg(vegaLiteSpec) {
  // Both packages are ES modules with top-level await: import(), not require().
  const vega = await import('vega');
  const vegaLite = await import('vega-lite');
  const view = new vega.View(vega.parse(vegaLite.compile(vegaLiteSpec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

module.exports = { renderSvg };
