// ipywidgets' html-manager typesets widget labels with the MathJax 2 API
// (MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])); the site loads MathJax 3. Map the
// call onto MathJax 3's typesetPromise. Loaded (deferred) right after MathJax itself.
(function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub) return;                 // no math on this page, or MathJax 2 after all
  mj.Hub = {
    Queue: function (job) {
      var el = Array.isArray(job) ? job[2] : undefined;
      var m = window.MathJax;
      var ready = (m.startup && m.startup.promise) || Promise.resolve();
      ready.then(function () { return m.typesetPromise(el ? [el] : undefined); })
           .catch(function (err) { console.warn("MathJax typeset:", err); });
    }
  };
})();
