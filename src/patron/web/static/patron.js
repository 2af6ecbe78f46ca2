// Patron's page script, written here. Pages work without it; with it, search and paging
// update the results in place, and charts are drawn with Vega-Lite (served from the
// vl-convert package by /vendor/vega.js, on the pages that have charts).
"use strict";

(function () {
  // --- partial updates ----------------------------------------------------------------------
  // A form or container with data-partial="ID" updates only the element #ID: the server
  // answers a request with the header X-Patron-Partial: 1 with that fragment alone.
  function fetchFragment(url, targetId, push) {
    const target = document.getElementById(targetId);
    if (!target) { window.location.assign(url); return; }
    target.classList.add("busy");
    fetch(url, { headers: { "X-Patron-Partial": "1", "Accept": "text/html" }, credentials: "same-origin" })
      .then(function (response) {
        if (response.redirected || !response.ok) { window.location.assign(url); return null; }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        target.innerHTML = html;
        target.classList.remove("busy");
        if (push) { window.history.pushState({ partial: targetId }, "", url); }
      })
      .catch(function () { window.location.assign(url); });
  }

  function formUrl(form) {
    const params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (value !== "" && name !== "page") { params.append(name, value); }
    });
    const query = params.toString();
    return form.getAttribute("action") + (query ? "?" + query : "");
  }

  function debounce(fn, wait) {
    let timer = null;
    return function () {
      const args = arguments;
      window.clearTimeout(timer);
      timer = window.setTimeout(function () { fn.apply(null, args); }, wait);
    };
  }

  function enhanceForms() {
    document.querySelectorAll("form[data-partial]").forEach(function (form) {
      const targetId = form.dataset.partial;
      const update = function () { fetchFragment(formUrl(form), targetId, true); };
      form.addEventListener("submit", function (event) { event.preventDefault(); update(); });
      form.addEventListener("input", debounce(update, 250));
      form.addEventListener("change", update);
    });
    document.addEventListener("click", function (event) {
      const link = event.target.closest("a[data-partial-link]");
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
      const container = link.closest("[id]");
      if (!container) { return; }
      event.preventDefault();
      fetchFragment(link.getAttribute("href"), container.id, true);
    });
    window.addEventListener("popstate", function (event) {
      if (event.state && event.state.partial) {
        fetchFragment(window.location.pathname + window.location.search, event.state.partial, false);
      } else {
        window.location.reload();
      }
    });
  }

  // --- charts -------------------------------------------------------------------------------
  // <div class="chart" data-chart="SPEC-ID"> with <script type="application/json" id="SPEC-ID">.
  // ast: true makes Vega interpret expressions instead of compiling them with Function(),
  // so charts run under a CSP without 'unsafe-eval'.
  function drawCharts() {
    if (typeof window.vegaEmbed !== "function") { return; }
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      const source = document.getElementById(element.dataset.chart);
      if (!source) { return; }
      const spec = JSON.parse(source.textContent);
      const locale = document.documentElement.lang === "de"
        ? { number: { decimal: ",", thousands: ".", grouping: [3], currency: ["", " €"] } }
        : undefined;
      window.vegaEmbed(element, spec, {
        actions: false, ast: true, renderer: "svg", formatLocale: locale && locale.number,
      }).then(function () {
        element.dataset.rendered = "true";
        const fallback = element.querySelector(".chart-fallback");
        if (fallback) { fallback.remove(); }
      }).catch(function (error) {
        element.dataset.rendered = "error";
        console.error("chart failed", error);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhanceForms();
    drawCharts();
  });
})();
