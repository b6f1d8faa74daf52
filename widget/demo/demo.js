// Demo only: lets the page's URL choose the widget's language and a sample customer,
// e.g. /?lang=de&name=Ana&email=ana@example.com&open=1
(function () {
  var params = new URLSearchParams(window.location.search);
  var config = window.parleyConfig || {};
  if (params.get("lang")) config.language = params.get("lang");
  if (params.get("name") || params.get("email")) {
    config.customer = { name: params.get("name") || "", email: params.get("email") || "" };
  }
  if (params.get("open")) config.open = true;
  config.metadata = { plan: params.get("plan") || "demo", source: "demo page" };
  window.parleyConfig = config;
})();
