// The widget html-manager (embed-amd.js) finds its own files (Font Awesome fonts) next to the
// URL requirejs gives its module: point that module's folder at the local copy in _static/.
(function () {
  var here = document.currentScript.src.replace(/[^/]*$/, "");   // .../_static/
  window.require.config({paths: {"@jupyter-widgets/html-manager/dist": here + "widgets"}});
})();
